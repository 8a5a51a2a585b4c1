/**
 * The in-memory S3 behind a mocked S3Client (tests/helpers/memory-s3-client.ts) answers the requests the
 * IAM evaluation drives as S3 documents them, seen through the real adapter (lib/aws/s3-object-store.ts):
 * - conditional writes: "How to prevent object overwrites with conditional writes" (S3 User Guide):
 *   `If-None-Match: *` → 412 when the key exists; `If-Match` → 412 on another ETag, 404 without an object;
 * - PutObjectTagging / DeleteObjectTagging (API Reference): the tag set of the object, or of the version
 *   named, changes; bytes, ETag and Last-Modified do not;
 * - SSE-KMS: "objects … encrypted by SSE-C or SSE-KMS have ETags that are not an MD5 digest of their
 *   object data" (API Reference, "Object": ETag), and HEAD reports `x-amz-server-side-encryption`;
 * - full-object checksums are computed on the plaintext and returned by GetObjectAttributes
 *   ("Checking object integrity in Amazon S3", S3 User Guide), for the version named.
 */
import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { serveFromMemory } from '../helpers/memory-s3-client.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'eu-west-1' });

let world: MemoryWorld;
beforeEach(() => {
  s3.reset();
  world = new MemoryWorld();
  world.bucket('plain');
  world.bucket('versioned', { versioned: true });
  serveFromMemory(s3, world);
});
const store = (bucket: string) => new S3ObjectStore(client, bucket);

describe('the in-memory S3 client', () => {
  it('refuses a conditional PutObject whose condition does not hold (412; If-Match without an object: 404)', async () => {
    const plain = store('plain');
    expect(await plain.putTextIf('lease.json', 'first', { ifNoneMatch: '*' })).toBe(true);
    expect(await plain.putTextIf('lease.json', 'second', { ifNoneMatch: '*' })).toBe(false);
    const held = await plain.readText('lease.json');
    expect(held?.body).toBe('first');
    expect(await plain.putTextIf('lease.json', 'third', { ifMatch: 'another-etag' })).toBe(false);
    expect(await plain.putTextIf('lease.json', 'fourth', { ifMatch: held?.etag ?? '' })).toBe(true);
    expect((await plain.readText('lease.json'))?.body).toBe('fourth');
    expect(await plain.putTextIf('absent.json', 'x', { ifMatch: held?.etag ?? '' })).toBe(false);
    expect(world.bucket('plain').objects.has('absent.json')).toBe(false);
  });

  it('writes and removes the tags of the version named, leaving bytes and ETag as they were', async () => {
    const versioned = world.bucket('versioned');
    const old = versioned.put('k', 'old', { tags: { a: '1' } });
    const now = versioned.put('k', 'now', { tags: { a: '1' } });
    const dr = store('versioned');
    await dr.putTags('k', { b: '2' }, now.versionId);
    expect(await dr.getTags('k', now.versionId)).toEqual({ b: '2' });
    expect(await dr.getTags('k')).toEqual({ b: '2' });
    expect(await dr.getTags('k', old.versionId)).toEqual({ a: '1' });
    await dr.putTags('k', {}, old.versionId);
    expect(await dr.getTags('k', old.versionId)).toEqual({});
    expect((await dr.head('k'))?.etag).toBe(now.etag);
    expect((await dr.head('k'))?.tagCount).toBe(1);
  });

  it('gives an SSE-KMS object another ETag than the MD5 of its bytes, and the same checksum as a plain copy', async () => {
    world.bucket('plain').put('k', 'bytes', { checksum: 'SHA256' });
    const kms = world.bucket('versioned').put('k', 'bytes', { kms: true, checksum: 'SHA256' });
    const plainHead = await store('plain').head('k');
    const kmsHead = await store('versioned').head('k');
    expect(plainHead?.etag).toBe(createHash('md5').update('bytes').digest('hex'));
    expect(kmsHead?.etag).not.toBe(plainHead?.etag);
    expect(kmsHead?.serverSideEncryption).toBe('aws:kms');
    const sha256 = createHash('sha256').update('bytes').digest('base64');
    expect(await store('plain').checksums('k')).toEqual({ SHA256: sha256, Type: 'FULL_OBJECT' });
    expect(await store('versioned').checksums('k', kms.versionId)).toEqual({
      SHA256: sha256,
      Type: 'FULL_OBJECT',
    });
  });
});
