/**
 * One contract for every `ObjectStore` (lib/core/ports.ts) over an unversioned bucket, as S3 documents it
 * (docs/design.md, invariant 7: S3 is the reference): the in-memory fake (tests/unit/object-store-contract
 * .test.ts) and the S3 adapter over the local emulator (tests/integration/object-store-contract.test.ts)
 * must both pass it, so what the domain's unit tests show on the fake holds on S3. The versioned half is
 * tests/helpers/versioned-store-contract.ts. Each case cites the page that says what S3 does.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { PreconditionFailedError } from '../../lib/core/errors.ts';
import type { ListedObject, ObjectStore } from '../../lib/core/ports.ts';

export interface ObjectStoreFixture {
  /** An empty, unversioned bucket. */
  store: ObjectStore;
  /** Another empty bucket, the source of copies. */
  source: ObjectStore;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** Every object under a prefix, page by page with ListObjectsV2's continuation token. */
async function listAll(store: ObjectStore, prefix: string, maxKeys?: number) {
  const objects: ListedObject[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await store.list({ prefix, token, maxKeys });
    objects.push(...page.objects);
    token = page.nextToken;
    pages++;
  } while (token !== undefined);
  return { keys: objects.map((o) => o.key), objects, pages };
}

export function objectStoreContract(name: string, fixture: () => ObjectStoreFixture): void {
  describe(`ObjectStore contract: ${name}`, () => {
    // HeadObject (https://docs.aws.amazon.com/AmazonS3/API/API_HeadObject.html): a missing key is a 404
    // with no body, which the port reports as undefined; GetObject of a missing key is NoSuchKey.
    it('answers HEAD and GET of a missing key as not there', async () => {
      const { store } = fixture();
      expect(await store.head('contract/missing')).toBeUndefined();
      expect(await store.getText('contract/missing')).toBeUndefined();
      expect(await store.readText('contract/missing')).toBeUndefined();
    });

    // PutObject (https://docs.aws.amazon.com/AmazonS3/API/API_PutObject.html) replaces an existing object;
    // the ETag of a single-part, non-KMS object is the MD5 of its data ("Object" data type,
    // https://docs.aws.amazon.com/AmazonS3/API/API_Object.html).
    it('writes a small object whose HEAD has its size, MD5 ETag and content type, and replaces it whole', async () => {
      const { store } = fixture();
      await store.putText('contract/put.json', '{"a":1}', 'application/json');
      expect(await store.head('contract/put.json')).toMatchObject({
        key: 'contract/put.json',
        size: 7,
        etag: md5('{"a":1}'),
        contentType: 'application/json',
      });
      await store.putText('contract/put.json', 'été', 'text/plain');
      expect(await store.readText('contract/put.json')).toEqual({ body: 'été', etag: md5('été') });
      expect((await store.head('contract/put.json'))?.size).toBe(Buffer.byteLength('été'));
    });

    // CopyObject (https://docs.aws.amazon.com/AmazonS3/API/API_CopyObject.html): the copy has the source's
    // data (same ETag for a single-part object) and, by default (MetadataDirective COPY), its metadata and
    // content headers; with REPLACE the request's metadata is used instead.
    it('copies an object with its bytes and content headers, and replaces its metadata on request', async () => {
      const { store, source } = fixture();
      await source.putText('contract/copy me.txt', 'copied', 'text/plain');
      const copied = await store.copyFrom(
        { bucket: source.bucket, key: 'contract/copy me.txt' },
        'contract/copy.txt',
        {},
      );
      expect(copied.etag).toBe(md5('copied'));
      expect(await store.head('contract/copy.txt')).toMatchObject({
        size: 6,
        etag: md5('copied'),
        contentType: 'text/plain',
      });
      await store.copyFrom({ bucket: source.bucket, key: 'contract/copy me.txt' }, 'contract/meta.txt', {
        metadata: { origin: 'contract' },
        contentType: 'text/plain',
      });
      expect((await store.head('contract/meta.txt'))?.metadata).toEqual({ origin: 'contract' });
      expect(await store.getText('contract/meta.txt')).toBe('copied');
    });

    // CopyObject's x-amz-copy-source-if-match (https://docs.aws.amazon.com/AmazonS3/API/API_CopyObject.html):
    // "Copies the object if its entity tag (ETag) matches the specified tag"; otherwise 412 Precondition
    // Failed, which the port reports as PreconditionFailedError and the replicator takes as "the source moved on".
    it('copies only while the source still has the ETag the copy was asked for', async () => {
      const { store, source } = fixture();
      await source.putText('contract/moving.txt', 'first', 'text/plain');
      const from = { bucket: source.bucket, key: 'contract/moving.txt', ifMatch: md5('first') };
      expect((await store.copyFrom(from, 'contract/moving.txt', {})).etag).toBe(md5('first'));
      await source.putText('contract/moving.txt', 'second', 'text/plain');
      await expect(store.copyFrom(from, 'contract/moving.txt', {})).rejects.toThrow(PreconditionFailedError);
      expect(await store.getText('contract/moving.txt')).toBe('first');
    });

    // DeleteObject (https://docs.aws.amazon.com/AmazonS3/API/API_DeleteObject.html): "If there isn't a null
    // version, Amazon S3 does not remove any objects but will still respond that the command was successful."
    it('removes an object, and removing a missing key succeeds', async () => {
      const { store } = fixture();
      await store.putText('contract/gone.txt', 'x', 'text/plain');
      await store.remove('contract/gone.txt');
      expect(await store.head('contract/gone.txt')).toBeUndefined();
      await expect(store.remove('contract/never-there.txt')).resolves.toBeUndefined();
    });

    // PutObjectTagging replaces the whole tag set
    // (https://docs.aws.amazon.com/AmazonS3/API/API_PutObjectTagging.html); DeleteObjectTagging removes it
    // (https://docs.aws.amazon.com/AmazonS3/API/API_DeleteObjectTagging.html); neither changes the data.
    it('replaces and removes a tag set, leaving the bytes and ETag alone', async () => {
      const { store } = fixture();
      await store.putText('contract/tagged.txt', 'tagged', 'text/plain');
      expect(await store.getTags('contract/tagged.txt')).toEqual({});
      await store.putTags('contract/tagged.txt', { a: '1', b: '2' });
      await store.putTags('contract/tagged.txt', { c: '3' });
      expect(await store.getTags('contract/tagged.txt')).toEqual({ c: '3' });
      await store.putTags('contract/tagged.txt', {});
      expect(await store.getTags('contract/tagged.txt')).toEqual({});
      expect(await store.readText('contract/tagged.txt')).toEqual({ body: 'tagged', etag: md5('tagged') });
    });

    // ListObjectsV2 (https://docs.aws.amazon.com/AmazonS3/API/API_ListObjectsV2.html): keys in UTF-8 binary
    // order; a truncated page gives NextContinuationToken; Delimiter rolls keys up into CommonPrefixes.
    it('lists keys under a prefix in UTF-8 byte order, page by page without gaps or repeats', async () => {
      const { store } = fixture();
      const keys = ['list/b', 'list/B', 'list/a b', 'list/é', 'list/~', 'list/a+b', 'list/dir/x'];
      for (const key of keys) await store.putText(key, key, 'text/plain');
      const byteOrder = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const listed = await listAll(store, 'list/', 2);
      expect(listed.keys).toEqual(byteOrder);
      expect(listed.pages).toBe(4);
      expect(listed.objects.find((o) => o.key === 'list/é')).toMatchObject({
        size: Buffer.byteLength('list/é'),
      });
      const rolled = await store.list({ prefix: 'list/', delimiter: '/' });
      expect(rolled.commonPrefixes).toEqual(['list/dir/']);
      expect(rolled.objects.map((o) => o.key)).not.toContain('list/dir/x');
    });

    // Conditional writes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html):
    // If-None-Match: * fails with 412 when the key exists; If-Match fails with 412 unless the ETag matches.
    it('writes conditionally: create-if-absent once, replace only while the ETag still matches', async () => {
      const { store } = fixture();
      expect(await store.putTextIf('contract/lease', 'one', { ifNoneMatch: '*' })).toBe(true);
      expect(await store.putTextIf('contract/lease', 'two', { ifNoneMatch: '*' })).toBe(false);
      expect(await store.putTextIf('contract/lease', 'three', { ifMatch: md5('one') })).toBe(true);
      expect(await store.putTextIf('contract/lease', 'four', { ifMatch: md5('one') })).toBe(false);
      expect(await store.getText('contract/lease')).toBe('three');
    });

    // Multipart upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html): parts of at
    // least 5 MiB but the last; an open upload is listed (ListMultipartUploads) with its parts (ListParts)
    // until completed or aborted; the object's ETag ends in "-<number of parts>".
    it('copies an object in parts, lists the open upload and its parts, and completes or aborts it', async () => {
      const { store, source } = fixture();
      const body = 'x'.repeat(5 * 1024 * 1024 + 1);
      await source.putText('contract/big.txt', body, 'text/plain');
      const from = { bucket: source.bucket, key: 'contract/big.txt' };
      const { uploadId } = await store.startMultipart('contract/big-copy.txt', { contentType: 'text/plain' });
      expect((await store.listOpenUploads('contract/big-copy.txt')).map((u) => u.uploadId)).toEqual([
        uploadId,
      ]);
      const first = await store.copyPart(from, 'contract/big-copy.txt', uploadId, 1, {
        start: 0,
        end: body.length - 2,
      });
      const last = await store.copyPart(from, 'contract/big-copy.txt', uploadId, 2, {
        start: body.length - 1,
        end: body.length - 1,
      });
      expect(await store.listParts('contract/big-copy.txt', uploadId)).toEqual([
        { partNumber: 1, etag: first.etag, size: body.length - 1 },
        { partNumber: 2, etag: last.etag, size: 1 },
      ]);
      const done = await store.completeMultipart('contract/big-copy.txt', uploadId, [
        { partNumber: 1, etag: first.etag },
        { partNumber: 2, etag: last.etag },
      ]);
      expect(done.etag).toMatch(/^[0-9a-f]{32}-2$/);
      expect(await store.head('contract/big-copy.txt')).toMatchObject({ size: body.length, etag: done.etag });
      expect(await store.listOpenUploads('contract/big-copy.txt')).toEqual([]);

      const aborted = await store.startMultipart('contract/big-copy.txt', {});
      await store.abortMultipart('contract/big-copy.txt', aborted.uploadId);
      expect(await store.listOpenUploads('contract/big-copy.txt')).toEqual([]);
    });
  });
}
