/**
 * S3 Versioning in the local emulator (local/emulator-versioning.ts; fauxqs 2.4.1 has none). The S3
 * adapter over the emulator passes the same versioned-bucket contract as the in-memory fake
 * (tests/helpers/versioned-store-contract.ts); the rest states, request by request, what S3 documents:
 * - "Working with delete markers" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html):
 *   GET/HEAD of a key whose current version is a delete marker is 404 with `x-amz-delete-marker: true`;
 *   GET of a delete marker's version id is 405 MethodNotAllowed.
 * - "Deleting object versions" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectVersions.html)
 *   and DeleteObject / DeleteObjects (API reference): without a version id a delete marker is added
 *   (`x-amz-delete-marker`, `x-amz-version-id` of the marker); with one, that version is removed for
 *   good, and removing the delete marker brings the object back.
 * - PutObject, CopyObject, CompleteMultipartUpload return `x-amz-version-id`; CopyObject with a versioned
 *   CopySource returns `x-amz-copy-source-version-id` (API reference).
 * - "Event notification types and destinations": on a versioned bucket a delete without a version id is
 *   `s3:ObjectRemoved:DeleteMarkerCreated`.
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
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { type Emulator, type ObjectEvent, startEmulator } from '../../local/emulator.ts';
import { VERSIONS_BUCKET } from '../../local/emulator-versioning.ts';
import { emulatorClient } from '../helpers/emulator.ts';
import { allVersions, versionedStoreContract } from '../helpers/versioned-store-contract.ts';

const VERSIONED = 'versioned-bucket';
const PLAIN = 'plain-bucket';

let emulator: Emulator;
let s3: S3Client;
const events: ObjectEvent[] = [];
/** Headers of the last raw response (an SDK error does not carry them). */
let lastHeaders: Record<string, string> = {};

function client(endpoint: string): S3Client {
  const c = emulatorClient(endpoint, { maxAttempts: 1 });
  c.middlewareStack.addRelativeTo(
    ((next: (args: unknown) => Promise<{ response: unknown }>) => async (args: unknown) => {
      const out = await next(args);
      lastHeaders = (out.response as { headers: Record<string, string> }).headers;
      return out;
    }) as never,
    { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 'captureHeaders' },
  );
  return c;
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  emulator.onObjectEvent((e) => events.push(e));
  s3 = client(emulator.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: VERSIONED }));
  await s3.send(new CreateBucketCommand({ Bucket: PLAIN }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: VERSIONED, VersioningConfiguration: { Status: 'Enabled' } }),
  );
}, 30_000);

afterAll(async () => {
  s3?.destroy();
  await emulator?.stop();
});

versionedStoreContract('S3 adapter over the local emulator', () => ({
  store: new S3ObjectStore(s3, VERSIONED),
}));

async function failure(request: Promise<unknown>): Promise<[number | undefined, string]> {
  try {
    await request;
  } catch (error) {
    if (error instanceof S3ServiceException) return [error.$metadata.httpStatusCode, error.name];
    throw error;
  }
  throw new Error('the request succeeded');
}

describe('local emulator: S3 versioning', () => {
  it('reports the versioning state: Enabled on the versioned bucket, none on a bucket never versioned', async () => {
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: VERSIONED }))).Status).toBe('Enabled');
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: PLAIN }))).Status).toBeUndefined();
  });

  it('refuses to suspend versioning (not supported locally) rather than pretending to', async () => {
    const [status, name] = await failure(
      s3.send(
        new PutBucketVersioningCommand({ Bucket: PLAIN, VersioningConfiguration: { Status: 'Suspended' } }),
      ),
    );
    expect([status, name]).toEqual([501, 'NotImplemented']);
  });

  it('returns a version id from PutObject, CopyObject (with the source version) and CompleteMultipartUpload', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'ids/put', Body: 'a' }));
    expect(put.VersionId).toMatch(/./);
    const copy = await s3.send(
      new CopyObjectCommand({
        Bucket: VERSIONED,
        Key: 'ids/copy',
        CopySource: `${VERSIONED}/ids/put?versionId=${put.VersionId}`,
      }),
    );
    expect(copy.VersionId).toMatch(/./);
    expect(copy.VersionId).not.toBe(put.VersionId);
    expect(copy.CopySourceVersionId).toBe(put.VersionId);
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: VERSIONED, Key: 'ids/mpu' }),
    );
    const part = await s3.send(
      new UploadPartCommand({ Bucket: VERSIONED, Key: 'ids/mpu', UploadId, PartNumber: 1, Body: 'p' }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: VERSIONED,
        Key: 'ids/mpu',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    expect(done.VersionId).toMatch(/./);
    const head = await s3.send(new HeadObjectCommand({ Bucket: VERSIONED, Key: 'ids/mpu' }));
    expect(head.VersionId).toBe(done.VersionId);
  });

  it('answers a key whose current version is a delete marker with 404 and x-amz-delete-marker, and GET of the marker with 405', async () => {
    await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'marker/k', Body: 'x' }));
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'marker/k' }));
    expect(deleted.DeleteMarker).toBe(true);
    expect(deleted.VersionId).toMatch(/./);
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'marker/k' })))).toEqual([
      404,
      'NoSuchKey',
    ]);
    expect(lastHeaders['x-amz-delete-marker']).toBe('true');
    expect(lastHeaders['x-amz-version-id']).toBe(deleted.VersionId);
    expect((await failure(s3.send(new HeadObjectCommand({ Bucket: VERSIONED, Key: 'marker/k' }))))[0]).toBe(
      404,
    );
    expect(lastHeaders['x-amz-delete-marker']).toBe('true');
    const [status] = await failure(
      s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'marker/k', VersionId: deleted.VersionId })),
    );
    expect(status).toBe(405);
    expect(lastHeaders['x-amz-delete-marker']).toBe('true');
    expect(lastHeaders['last-modified']).toMatch(/GMT$/);
  });

  it('removes one version for good with a version id; removing the delete marker brings the object back', async () => {
    const one = await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k', Body: 'one' }));
    const two = await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k', Body: 'two' }));
    const removed = await s3.send(
      new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k', VersionId: two.VersionId }),
    );
    expect(removed.VersionId).toBe(two.VersionId);
    expect(removed.DeleteMarker).toBeUndefined();
    const current = await s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k' }));
    expect(await current.Body?.transformToString()).toBe('one');
    expect(current.VersionId).toBe(one.VersionId);
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k' }));
    const unmarked = await s3.send(
      new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k', VersionId: marker.VersionId }),
    );
    expect(unmarked.DeleteMarker).toBe(true);
    const back = await s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'undelete/k' }));
    expect(await back.Body?.transformToString()).toBe('one');
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: VERSIONED, Prefix: 'undelete/' }));
    expect(listed.Versions?.map((v) => v.VersionId)).toEqual([one.VersionId]);
    expect(listed.DeleteMarkers).toBeUndefined();
  });

  it('DeleteObjects adds delete markers without version ids and removes the versions it names', async () => {
    const a = await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'batch/a', Body: 'a' }));
    await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: 'batch/b', Body: 'b' }));
    const c = await s3.send(new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'batch/c' }));
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: VERSIONED,
        Delete: {
          Objects: [
            { Key: 'batch/a', VersionId: a.VersionId },
            { Key: 'batch/b' },
            { Key: 'batch/c', VersionId: c.VersionId },
          ],
        },
      }),
    );
    const byKey = Object.fromEntries((r.Deleted ?? []).map((d) => [d.Key, d]));
    expect(byKey['batch/a']).toEqual({ Key: 'batch/a', VersionId: a.VersionId });
    // DeletedObject (API reference): removing a delete marker by id says so, with that id.
    expect(byKey['batch/c']).toEqual({
      Key: 'batch/c',
      VersionId: c.VersionId,
      DeleteMarker: true,
      DeleteMarkerVersionId: c.VersionId,
    });
    expect(byKey['batch/b']?.DeleteMarker).toBe(true);
    expect(byKey['batch/b']?.DeleteMarkerVersionId).toMatch(/./);
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: VERSIONED, Prefix: 'batch/' }));
    expect(listed.Versions?.map((v) => v.Key)).toEqual(['batch/b']);
    expect(listed.DeleteMarkers?.map((d) => [d.Key, d.IsLatest])).toEqual([['batch/b', true]]);
  });

  it('lists versions with url-encoded keys when asked (EncodingType=url)', async () => {
    const key = 'encoded/line\rbreak & more';
    await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: key, Body: '1' }));
    await s3.send(new PutObjectCommand({ Bucket: VERSIONED, Key: key, Body: '2' }));
    const r = await s3.send(
      new ListObjectVersionsCommand({ Bucket: VERSIONED, Prefix: 'encoded/', EncodingType: 'url' }),
    );
    expect(r.EncodingType).toBe('url');
    expect(r.Versions?.[0]?.Key).not.toContain('\r');
    const page = await new S3ObjectStore(s3, VERSIONED).listVersions({ prefix: 'encoded/' });
    expect(page.versions.map((v) => v.key)).toEqual([key, key]);
  });

  it('announces a delete on a versioned bucket as ObjectRemoved:DeleteMarkerCreated with the marker id', async () => {
    const r = await s3.send(new DeleteObjectCommand({ Bucket: VERSIONED, Key: 'events/k' }));
    expect(events.filter((e) => e.key === 'events/k')).toEqual([
      expect.objectContaining({ eventName: 'ObjectRemoved:DeleteMarkerCreated', versionId: r.VersionId }),
    ]);
  });

  it('keeps an unversioned bucket as it was: no version ids, each key once as version null', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'plain/k', Body: '1' }));
    await s3.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'plain/k', Body: '2' }));
    expect(put.VersionId).toBeUndefined();
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: PLAIN, Prefix: 'plain/' }));
    expect(r.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([['plain/k', 'null', true]]);
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: PLAIN, Key: 'plain/k' }));
    expect(deleted.DeleteMarker).toBeUndefined();
  });

  it('never exposes where it keeps versions: no such bucket in ListBuckets or by name', async () => {
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name).sort()).toEqual([PLAIN, VERSIONED]);
    expect(await failure(s3.send(new ListObjectVersionsCommand({ Bucket: VERSIONS_BUCKET })))).toEqual([
      404,
      'NoSuchBucket',
    ]);
  });
});

describe('local emulator: versions survive a restart (fauxqs persistence)', () => {
  it('lists the same versions and markers, with the same ids, and reads old versions by id', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 's3dr-versions-'));
    try {
      const first = await startEmulator({ port: 0, dataDir });
      const c1 = client(first.endpoint);
      await c1.send(new CreateBucketCommand({ Bucket: 'dr-bucket' }));
      // Written before versioning: its version id stays `null`, as in S3.
      await c1.send(new PutObjectCommand({ Bucket: 'dr-bucket', Key: 'k', Body: 'unversioned' }));
      await c1.send(
        new PutBucketVersioningCommand({
          Bucket: 'dr-bucket',
          VersioningConfiguration: { Status: 'Enabled' },
        }),
      );
      const v1 = await c1.send(new PutObjectCommand({ Bucket: 'dr-bucket', Key: 'k', Body: 'one' }));
      await c1.send(new PutObjectCommand({ Bucket: 'dr-bucket', Key: 'k', Body: 'two' }));
      await c1.send(new DeleteObjectCommand({ Bucket: 'dr-bucket', Key: 'k' }));
      const before = await allVersions(new S3ObjectStore(c1, 'dr-bucket'), '');
      c1.destroy();
      await first.stop();

      const second = await startEmulator({ port: 0, dataDir });
      const c2 = client(second.endpoint);
      try {
        const after = await allVersions(new S3ObjectStore(c2, 'dr-bucket'), '');
        expect(after.versions).toEqual(before.versions);
        expect(after.versions.map((v) => [v.versionId === 'null', v.deleteMarker])).toEqual([
          [false, true],
          [false, false],
          [false, false],
          [true, false],
        ]);
        const old = await c2.send(
          new GetObjectCommand({ Bucket: 'dr-bucket', Key: 'k', VersionId: v1.VersionId }),
        );
        expect(await old.Body?.transformToString()).toBe('one');
        const original = await c2.send(
          new GetObjectCommand({ Bucket: 'dr-bucket', Key: 'k', VersionId: 'null' }),
        );
        expect(await original.Body?.transformToString()).toBe('unversioned');
        expect((await c2.send(new GetBucketVersioningCommand({ Bucket: 'dr-bucket' }))).Status).toBe(
          'Enabled',
        );
      } finally {
        c2.destroy();
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
