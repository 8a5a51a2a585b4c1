/**
 * The S3 adapter's listings ask for `EncodingType=url` and decode what S3 encodes.
 *
 * What AWS documents (S3 API Reference; the same text is the `EncodingType` doc of each output shape in
 * @aws-sdk/client-s3): "Encoding type used by Amazon S3 to encode object keys in the response. If you
 * specify the encoding-type request parameter, Amazon S3 includes this element in the response, and returns
 * encoded key name values in the following response elements":
 * - ListObjectsV2 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html):
 *   `Delimiter, Prefix, Key, and StartAfter` — and `CommonPrefixes/Prefix` (observed against S3:
 *   github.com/brekkylab/backlot/issues/178; botocore decodes it too).
 * - ListObjectVersions (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html):
 *   `KeyMarker, NextKeyMarker, Prefix, Key, and Delimiter` (Key of both Version and DeleteMarker).
 * - ListMultipartUploads (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html):
 *   `Delimiter, KeyMarker, Prefix, NextKeyMarker, Key`.
 * Why it is needed: "An object key can contain any Unicode character. However, the XML 1.0 parser can't
 * parse certain characters, such as characters with an ASCII value from 0 to 10."
 * How S3 encodes: UTF-8 percent-encoding with a space as `+` (measured: `a b.txt` → `a+b.txt`,
 * `a+b.txt` → `a%2Bb.txt`, `100%.csv` → `100%25.csv`, backlot#178); botocore decodes with `unquote_plus`.
 * The JS SDK v3 does not decode (its client has no such middleware, unlike botocore, the Java SDK's
 * DecodeUrlEncodedResponseInterceptor or aws-sdk-php#884), so the adapter must.
 */
import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { decodeListedKey, S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { DrError } from '../../lib/core/errors.ts';

const s3 = mockClient(S3Client);
beforeEach(() => {
  s3.reset();
});

const store = () => new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), 'bucket');

/** S3's listing encoding: UTF-8 bytes percent-encoded except unreserved characters and `/`; space is `+`. */
function s3Encode(key: string): string {
  return [...Buffer.from(key, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-_.~/]/.test(c)) return c;
      if (c === ' ') return '+';
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** Keys that a raw XML listing loses or that a careless decoder gets wrong. */
const KEYS = [
  'cr/a\rb',
  'lf/a\nb',
  'crlf/a\r\nb',
  'tab/a\tb',
  'trailing space ',
  'plus/a+b',
  'percent/100%25 not an escape',
  'unicode/日本語/é/😀',
  'nul-ish/\u0001\u0008',
];

describe('decodeListedKey', () => {
  it('reads the encodings S3 was observed to send (space as +, literal + as %2B, % as %25, UTF-8)', () => {
    expect(decodeListedKey('a+b.txt')).toBe('a b.txt');
    expect(decodeListedKey('a%2Bb.txt')).toBe('a+b.txt');
    expect(decodeListedKey('100%25.csv')).toBe('100%.csv');
    expect(decodeListedKey('%ED%95%9C%EA%B8%80/x.txt')).toBe('한글/x.txt');
    expect(decodeListedKey('cr/a%0Db')).toBe('cr/a\rb');
    expect(decodeListedKey('test_file%283%29.png')).toBe('test_file(3).png');
  });

  it('round-trips every key through S3 encoding', () => {
    for (const key of KEYS) expect(decodeListedKey(s3Encode(key))).toBe(key);
  });

  it('refuses a value that is not URL-encoded UTF-8 rather than guess a key', () => {
    expect(() => decodeListedKey('a%E9b')).toThrow(DrError);
  });
});

describe('S3ObjectStore.list (ListObjectsV2)', () => {
  it('requests EncodingType=url and returns the exact keys and common prefixes S3 encoded', async () => {
    s3.on(ListObjectsV2Command).resolves({
      EncodingType: 'url',
      Prefix: '',
      Delimiter: s3Encode('\r'),
      Contents: KEYS.map((k) => ({ Key: s3Encode(k), ETag: '"e"', Size: 1 })),
      CommonPrefixes: [{ Prefix: s3Encode('dir with space\r') }],
      IsTruncated: true,
      // Opaque: never encoded, passed back as is.
      NextContinuationToken: '1a+b%2F==',
    });
    const page = await store().list({ prefix: 'p r+%', delimiter: '\r', startAfter: 'k\rm' });
    expect(page.objects.map((o) => o.key)).toEqual(KEYS);
    expect(page.commonPrefixes).toEqual(['dir with space\r']);
    expect(page.nextToken).toBe('1a+b%2F==');
    // Request parameters are sent raw: the SDK URL-encodes the query string itself.
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: 'bucket',
      Prefix: 'p r+%',
      Delimiter: '\r',
      StartAfter: 'k\rm',
      EncodingType: 'url',
    });
  });

  it('reads keys raw when the response says it did not encode them (an endpoint that ignores the parameter)', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'a+b%20c', ETag: '"e"', Size: 1 }] });
    const page = await store().list({});
    expect(page.objects.map((o) => o.key)).toEqual(['a+b%20c']);
  });
});

describe('S3ObjectStore.listVersions (ListObjectVersions)', () => {
  it('requests EncodingType=url and decodes the keys of versions and delete markers and NextKeyMarker', async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      EncodingType: 'url',
      KeyMarker: s3Encode('cr/a\r'),
      Prefix: s3Encode('cr/'),
      Versions: [{ Key: s3Encode('cr/a\rb'), VersionId: 'v1+/=', IsLatest: false, ETag: '"e"', Size: 3 }],
      DeleteMarkers: [{ Key: s3Encode('cr/a\rb'), VersionId: 'v2', IsLatest: true }],
      IsTruncated: true,
      NextKeyMarker: s3Encode('cr/a\rb'),
      // Version ids are not keys: never encoded.
      NextVersionIdMarker: 'v1+/=',
    });
    const page = await store().listVersions({ prefix: 'cr/', keyMarker: 'cr/a\r' });
    // In S3's order: the delete marker is the latest, so it comes first.
    expect(page.versions.map((v) => [v.key, v.versionId, v.deleteMarker])).toEqual([
      ['cr/a\rb', 'v2', true],
      ['cr/a\rb', 'v1+/=', false],
    ]);
    expect(page.nextKeyMarker).toBe('cr/a\rb');
    expect(page.nextVersionIdMarker).toBe('v1+/=');
    expect(s3).toHaveReceivedCommandWith(ListObjectVersionsCommand, {
      Prefix: 'cr/',
      KeyMarker: 'cr/a\r',
      EncodingType: 'url',
    });
  });
});

describe('S3ObjectStore.listVersions: one list in S3 order', () => {
  // ListObjectVersions (https://docs.aws.amazon.com/AmazonS3/API/API_ListObjectVersions.html) lists keys in
  // UTF-8 binary order and each key's versions newest first, delete markers among them; the SDK hands them
  // over as two arrays (Versions, DeleteMarkers), and the port promises S3's one order back.
  it('interleaves versions and delete markers by key (UTF-8 order), then newest first', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { Key: 'a', VersionId: 'a1', IsLatest: false, LastModified: at(1), ETag: '"e"', Size: 1 },
        { Key: 'b', VersionId: 'b2', IsLatest: true, LastModified: at(4), ETag: '"e"', Size: 1 },
        { Key: 'b', VersionId: 'b1', IsLatest: false, LastModified: at(2), ETag: '"e"', Size: 1 },
        { Key: '😀', VersionId: 'e1', IsLatest: true, LastModified: at(1), ETag: '"e"', Size: 1 },
        { Key: '｡', VersionId: 'f1', IsLatest: false, LastModified: at(1), ETag: '"e"', Size: 1 },
      ],
      DeleteMarkers: [
        { Key: 'a', VersionId: 'a2', IsLatest: true, LastModified: at(3) },
        { Key: 'b', VersionId: 'b-marker', IsLatest: false, LastModified: at(3) },
        { Key: '｡', VersionId: 'f2', IsLatest: true, LastModified: at(2) },
      ],
    });
    const page = await store().listVersions({});
    expect(page.versions.map((v) => v.versionId)).toEqual([
      'a2',
      'a1',
      'b2',
      'b-marker',
      'b1',
      'f2',
      'f1',
      'e1',
    ]);
  });
});

describe('S3ObjectStore.listOpenUploads (ListMultipartUploads)', () => {
  it('requests EncodingType=url, matches the decoded key and continues from the decoded NextKeyMarker', async () => {
    const key = 'big/a\r\nb c+d';
    s3.on(ListMultipartUploadsCommand)
      .resolvesOnce({
        EncodingType: 'url',
        Prefix: s3Encode(key),
        Uploads: [{ Key: s3Encode(key), UploadId: 'u1', Initiated: new Date(1) }],
        IsTruncated: true,
        NextKeyMarker: s3Encode(key),
        NextUploadIdMarker: 'u1',
      })
      .resolvesOnce({
        EncodingType: 'url',
        Uploads: [
          { Key: s3Encode(key), UploadId: 'u2', Initiated: new Date(2) },
          // A longer key under the same prefix is not this key's upload.
          { Key: s3Encode(`${key}x`), UploadId: 'u3', Initiated: new Date(3) },
        ],
        IsTruncated: false,
      });
    const uploads = await store().listOpenUploads(key);
    expect(uploads.map((u) => [u.key, u.uploadId])).toEqual([
      [key, 'u1'],
      [key, 'u2'],
    ]);
    expect(s3).toHaveReceivedNthSpecificCommandWith(1, ListMultipartUploadsCommand, {
      Prefix: key,
      EncodingType: 'url',
    });
    expect(s3).toHaveReceivedNthSpecificCommandWith(2, ListMultipartUploadsCommand, {
      Prefix: key,
      KeyMarker: key,
      UploadIdMarker: 'u1',
      EncodingType: 'url',
    });
  });
});
