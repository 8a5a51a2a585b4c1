/**
 * The emulator's object tagging (local/emulator-tagging.ts) against S3's documented behaviour:
 * - PutObjectTagging "sets the supplied tag-set to an object that already exists" and replaces the
 *   existing set; DeleteObjectTagging removes it; GetObjectTagging returns it (S3 API reference,
 *   PutObjectTagging / DeleteObjectTagging / GetObjectTagging; User Guide, "Categorizing your storage
 *   using tags", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html).
 * - A tag change is not a write of the object: "The ETag reflects changes only to the contents of an
 *   object, not its metadata" (S3 API reference, data type Object); Last-Modified stays too (checked on
 *   AWS in minio/minio#20299: `mc tag set` leaves the object's date as it was).
 * - GET and HEAD report the tag count in `x-amz-tagging-count` (S3 API reference, HeadObject/GetObject:
 *   "The number of tags, if any, on the object").
 * - PutObject and CreateMultipartUpload take tags in `x-amz-tagging`; CopyObject copies the source's tags
 *   unless `x-amz-tagging-directive: REPLACE` (User Guide, object-tagging.html).
 * - Tag changes are notified as `s3:ObjectTagging:Put` / `s3:ObjectTagging:Delete` (User Guide, "Event
 *   notification types and destinations"), in event structure version 2.3 (User Guide, "Event message
 *   structure"), which carries no sequencer ("only used with PUTs and DELETEs").
 * fauxqs 2.4.1 instead wrote the tagging XML over the object's body and deleted the object on
 * DeleteObjectTagging.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Emulator, ObjectEvent } from '../../local/emulator.ts';
import { S3Notifier } from '../../local/s3-notifier.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';

let local: TestEmulator;
let emulator: Emulator;
let s3: S3Client;
const events: ObjectEvent[] = [];
const bucket = 'tagging-bucket';

beforeAll(async () => {
  local = await startTestEmulator({ region: 'eu-west-1' });
  ({ emulator, s3 } = local);
  emulator.onObjectEvent((e) => events.push(e));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await local?.stop();
});

const tagsOf = async (key: string) =>
  (await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet?.map((t) => [
    t.Key,
    t.Value,
  ]);
const bodyOf = async (key: string) =>
  (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
const listed = async (key: string) =>
  (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }))).Contents?.find(
    (o) => o.Key === key,
  );

describe('object tagging on the emulator', () => {
  it('PutObjectTagging replaces the tag set and changes neither the bytes, the ETag nor Last-Modified', async () => {
    const key = 'tagged/a b+ü.txt';
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the bytes', Tagging: 'team=blue&stage=raw' }),
    );
    const before = await listed(key);
    expect(await tagsOf(key)).toEqual([
      ['team', 'blue'],
      ['stage', 'raw'],
    ]);

    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: key,
        Tagging: { TagSet: [{ Key: 'stage', Value: 'final & <checked>' }] },
      }),
    );

    expect(await tagsOf(key)).toEqual([['stage', 'final & <checked>']]);
    expect(await bodyOf(key)).toBe('the bytes');
    const after = await listed(key);
    expect(after?.ETag).toBe(before?.ETag);
    expect(after?.LastModified?.getTime()).toBe(before?.LastModified?.getTime());
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).TagCount).toBe(1);
  });

  it('DeleteObjectTagging empties the tag set and keeps the object; HEAD then has no tag count', async () => {
    const key = 'tagged/delete-me.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'kept', Tagging: 'a=1' }));
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: key }));
    expect(await tagsOf(key)).toEqual([]);
    expect(await bodyOf(key)).toBe('kept');
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).TagCount).toBeUndefined();
  });

  it('emits ObjectTagging:Put and ObjectTagging:Delete with the object ETag, as S3 notifies them', async () => {
    const key = 'tagged/events.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'events' }));
    const etag = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag?.replaceAll(
      '"',
      '',
    );
    const from = events.length;
    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: key,
        Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] },
      }),
    );
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: key }));
    const emitted = events.slice(from);
    expect(emitted.map((e) => [e.eventName, e.key, e.etag])).toEqual([
      ['ObjectTagging:Put', key, etag],
      ['ObjectTagging:Delete', key, etag],
    ]);
    // As the notifier delivers them: event structure 2.3, no sequencer.
    const delivered: unknown[] = [];
    const notifier = new S3Notifier({
      region: 'eu-west-1',
      buckets: [bucket],
      deliver: (n) => delivered.push(...n.Records),
    });
    notifier.notify(emitted[0]!);
    notifier.flush();
    expect(delivered).toEqual([
      expect.objectContaining({
        eventVersion: '2.3',
        eventName: 'ObjectTagging:Put',
        s3: expect.objectContaining({ object: { key: 'tagged/events.txt', eTag: etag } }),
      }),
    ]);
  });

  it('answers a tagging request for a missing key with NoSuchKey and leaves other keys alone', async () => {
    await expect(
      s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'missing', Tagging: { TagSet: [] } })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('rejects more than ten tags with InvalidTag', async () => {
    const key = 'tagged/too-many.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const TagSet = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await expect(
      s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet } })),
    ).rejects.toMatchObject({ name: 'InvalidTag' });
  });

  it('copies tags with CopyObject unless the tagging directive is REPLACE', async () => {
    const key = 'tagged/copy-source.txt';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'copy me', Tagging: 'origin=src' }));
    await s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'tagged/copied.txt', CopySource: `${bucket}/${key}` }),
    );
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'tagged/replaced.txt',
        CopySource: `${bucket}/${key}`,
        TaggingDirective: 'REPLACE',
        Tagging: 'origin=new',
      }),
    );
    expect(await tagsOf('tagged/copied.txt')).toEqual([['origin', 'src']]);
    expect(await tagsOf('tagged/replaced.txt')).toEqual([['origin', 'new']]);
    // Overwriting an object gives it the new request's tags (none here).
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'overwritten' }));
    expect(await tagsOf(key)).toEqual([]);
  });

  it('puts the tags of CreateMultipartUpload on the completed object', async () => {
    const key = 'tagged/multipart.bin';
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Tagging: 'parts=two' }),
    );
    const etags: string[] = [];
    for (const [i, body] of [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.from('tail')].entries()) {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
      );
      etags.push(r.ETag ?? '');
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    expect(await tagsOf(key)).toEqual([['parts', 'two']]);
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).TagCount).toBe(1);
  });
});

// S3 keeps a tag set with the object (and each version) for as long as the object exists; the local
// runtime keeps its objects across a restart (S3DR_DATA_DIR), so it must keep their tags too.
describe('object tags survive an emulator restart (S3DR_DATA_DIR)', () => {
  it('keeps current and noncurrent versions’ tag sets, and gives a deleted key’s tags to nothing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 's3dr-tags-'));
    const b = 'tags-restart';
    const open = async () => {
      const { emulator: emu, s3: c } = await startTestEmulator({ region: 'eu-west-1', dataDir });
      const tagsOf = async (Key: string, VersionId?: string) =>
        (await c.send(new GetObjectTaggingCommand({ Bucket: b, Key, VersionId }))).TagSet?.map((t) => [
          t.Key,
          t.Value,
        ]);
      return { emu, c, tagsOf };
    };
    try {
      const first = await open();
      const { c } = first;
      await c.send(new CreateBucketCommand({ Bucket: b }));
      await c.send(
        new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
      );
      const v1 = await c.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one', Tagging: 'v=1' }));
      await c.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two', Tagging: 'v=2' }));
      // A tag change on the noncurrent version and on the current one, after their writes.
      await c.send(
        new PutObjectTaggingCommand({
          Bucket: b,
          Key: 'k',
          VersionId: v1.VersionId,
          Tagging: { TagSet: [{ Key: 'v', Value: 'one, retagged' }] },
        }),
      );
      await c.send(
        new PutObjectTaggingCommand({
          Bucket: b,
          Key: 'k',
          Tagging: { TagSet: [{ Key: 'v', Value: 'two, retagged' }] },
        }),
      );
      await c.send(new PutObjectCommand({ Bucket: b, Key: 'untagged', Body: 'x', Tagging: 'gone=soon' }));
      await c.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 'untagged' }));
      // Suspended bucket semantics aside, a plain bucket's deleted key leaves no tags behind.
      await c.send(new CreateBucketCommand({ Bucket: `${b}-plain` }));
      await c.send(
        new PutObjectCommand({ Bucket: `${b}-plain`, Key: 'd', Body: 'same', Tagging: 'old=tags' }),
      );
      await c.send(new DeleteObjectCommand({ Bucket: `${b}-plain`, Key: 'd' }));
      c.destroy();
      await first.emu.stop();

      const second = await open();
      try {
        expect(await second.tagsOf('k')).toEqual([['v', 'two, retagged']]);
        expect(await second.tagsOf('k', v1.VersionId)).toEqual([['v', 'one, retagged']]);
        expect(await second.tagsOf('untagged')).toEqual([]);
        // The same bytes (so the same ETag) written again without tags get none.
        await second.c.send(new PutObjectCommand({ Bucket: `${b}-plain`, Key: 'd', Body: 'same' }));
        const plain = await second.c.send(new GetObjectTaggingCommand({ Bucket: `${b}-plain`, Key: 'd' }));
        expect(plain.TagSet).toEqual([]);
      } finally {
        second.c.destroy();
        await second.emu.stop();
      }
      // And after a third start, the untagged rewrite is still untagged.
      const third = await open();
      try {
        const plain = await third.c.send(new GetObjectTaggingCommand({ Bucket: `${b}-plain`, Key: 'd' }));
        expect(plain.TagSet).toEqual([]);
        expect(await third.tagsOf('k')).toEqual([['v', 'two, retagged']]);
      } finally {
        third.c.destroy();
        await third.emu.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
