/**
 * The emulator's listings encode keys as S3 does when asked (`encoding-type=url`), and lose a carriage
 * return as S3 does when not — the fix lives in patches/fauxqs+2.4.1.patch (ListObjects V1/V2) and
 * local/emulator.ts (ListMultipartUploads, ListObjectVersions), which fauxqs 2.4.1 lacks.
 *
 * AWS documents, for each of the three listings (S3 API Reference, ListObjectsV2 / ListObjectVersions /
 * ListMultipartUploads, "EncodingType"): "If you specify the encoding-type request parameter, Amazon S3
 * includes this element in the response, and returns encoded key name values in the following response
 * elements" (ListObjectsV2: Delimiter, Prefix, Key, StartAfter; ListObjectVersions: KeyMarker,
 * NextKeyMarker, Prefix, Key, Delimiter; ListMultipartUploads: Delimiter, KeyMarker, Prefix,
 * NextKeyMarker, Key), and why: "the XML 1.0 parser can't parse certain characters, such as characters
 * with an ASCII value from 0 to 10". XML 1.0 (section 2.11, End-of-Line Handling) has a parser turn a
 * literal CR into LF, which is what happens to an unencoded listing.
 */
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import type { Emulator } from '../../local/emulator.ts';
import { signedGet } from '../../local/signed-fetch.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';

const BUCKET = 'listing';
const KEYS = [
  'cr/a\rb',
  'crlf/a\r\nb',
  'lf/a\nb',
  'p/a\rb',
  'p/a\nb',
  'plus/a+b',
  'space/a b',
  'tab/a\tb',
  'trailing space ',
  'percent/100%',
  'unicode/é😀',
].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

let local: TestEmulator;
let emulator: Emulator;
let s3: S3Client;
let store: S3ObjectStore;

beforeAll(async () => {
  local = await startTestEmulator();
  ({ emulator, s3 } = local);
  store = new S3ObjectStore(s3, BUCKET);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const key of KEYS) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
}, 30_000);

afterAll(async () => {
  await local?.stop();
});

/** Every key of the bucket through the adapter's ListObjectsV2, `maxKeys` per page. */
async function listAll(maxKeys: number): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ maxKeys, token });
    keys.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token);
  return keys;
}

describe('the emulator lists keys the XML cannot carry', () => {
  it('without EncodingType turns a CR into LF, as S3 does — which is why s3-dr asks for url encoding', async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'cr/' }));
    expect(r.EncodingType).toBeUndefined();
    expect(r.Contents?.map((o) => o.Key)).toEqual(['cr/a\nb']);
  });

  it('with encoding-type=url answers with <EncodingType>url</EncodingType> and form-encoded keys and prefixes', async () => {
    const xml = await (
      await signedGet(`${emulator.endpoint}/${BUCKET}?list-type=2&encoding-type=url&prefix=sp&delimiter=%20`)
    ).text();
    expect(xml).toContain('<EncodingType>url</EncodingType>');
    expect(xml).toContain('<CommonPrefixes><Prefix>space/a+</Prefix></CommonPrefixes>');
    expect(xml).toContain('<Delimiter>+</Delimiter>');
    const all = await (
      await signedGet(`${emulator.endpoint}/${BUCKET}?list-type=2&encoding-type=url`)
    ).text();
    for (const encoded of ['cr/a%0Db', 'crlf/a%0D%0Ab', 'tab/a%09b', 'trailing+space+', 'plus/a%2Bb']) {
      expect(all).toContain(`<Key>${encoded}</Key>`);
    }
    expect(all).toContain('<Key>percent/100%25</Key>');
    expect(all).toContain('<Key>unicode/%C3%A9%F0%9F%98%80</Key>');
  });

  it('refuses an encoding-type other than url with 400 InvalidArgument, as S3 does', async () => {
    const r = await signedGet(`${emulator.endpoint}/${BUCKET}?list-type=2&encoding-type=base64`);
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('<Code>InvalidArgument</Code>');
  });

  it('gives the adapter every key exactly, in UTF-8 order, across pages (ListObjectsV2)', async () => {
    expect(await listAll(1000)).toEqual(KEYS);
    expect(await listAll(2)).toEqual(KEYS);
  });

  it('gives the adapter exact common prefixes and keys under a prefix holding a CR', async () => {
    const page = await store.list({ prefix: 'cr', delimiter: '\r' });
    expect(page.commonPrefixes).toEqual(['cr/a\r', 'crlf/a\r']);
    expect((await store.list({ prefix: 'p/a\r' })).objects.map((o) => o.key)).toEqual(['p/a\rb']);
  });

  it('answers ListObjectVersions as S3 does for an unversioned bucket: each key once as version null, encoded', async () => {
    const keys: string[] = [];
    let keyMarker: string | undefined;
    do {
      const page = await store.listVersions({ keyMarker, maxKeys: 3 });
      for (const v of page.versions) {
        expect(v).toMatchObject({
          versionId: 'null',
          isLatest: true,
          deleteMarker: false,
          size: Buffer.byteLength(v.key),
        });
        keys.push(v.key);
      }
      keyMarker = page.nextKeyMarker;
    } while (keyMarker);
    expect(keys).toEqual(KEYS);
    const xml = await (
      await signedGet(`${emulator.endpoint}/${BUCKET}?versions&encoding-type=url&prefix=cr/`)
    ).text();
    expect(xml).toContain('<EncodingType>url</EncodingType>');
    expect(xml).toContain('<Key>cr/a%0Db</Key>');
  });

  it('answers ListMultipartUploads with the exact key of an open upload (encoded on the wire)', async () => {
    const key = 'mp/a\r\nb c+d';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const uploads = await store.listOpenUploads(key);
    expect(uploads.map((u) => [u.key, u.uploadId])).toEqual([[key, UploadId]]);
    const xml = await (
      await signedGet(`${emulator.endpoint}/${BUCKET}?uploads&encoding-type=url&prefix=mp/`)
    ).text();
    expect(xml).toContain('<EncodingType>url</EncodingType>');
    expect(xml).toContain('<Key>mp/a%0D%0Ab+c%2Bd</Key>');
    await store.abortMultipart(key, UploadId ?? '');
  });
});

/**
 * S3 API Reference, ListParts: "max-parts" bounds a page (1,000 at most), "part-number-marker" lists the parts
 * after it, and "When a list is truncated, this element [NextPartNumberMarker] specifies the last part in the
 * list, as well as the value to use for the part-number-marker request parameter in a subsequent request."
 * The SDK's paginateListParts (lib/aws/s3-object-store.ts) relies on both.
 */
describe('ListParts pages', () => {
  it('lists the parts after part-number-marker, max-parts at a time, truncated while more follow', async () => {
    const key = 'parts/paged';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    for (const PartNumber of [1, 2, 3]) {
      await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber, Body: `part ${PartNumber}` }),
      );
    }
    const first = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId, MaxParts: 2 }));
    expect(first.Parts?.map((p) => p.PartNumber)).toEqual([1, 2]);
    expect(first).toMatchObject({ IsTruncated: true, NextPartNumberMarker: '2' });
    const rest = await s3.send(
      new ListPartsCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId,
        PartNumberMarker: first.NextPartNumberMarker,
      }),
    );
    expect(rest.Parts?.map((p) => p.PartNumber)).toEqual([3]);
    expect(rest.IsTruncated).toBe(false);
    expect((await store.listParts(key, UploadId ?? '')).map((p) => p.partNumber)).toEqual([1, 2, 3]);
    await store.abortMultipart(key, UploadId ?? '');
  });
});
