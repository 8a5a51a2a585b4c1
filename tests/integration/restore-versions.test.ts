/**
 * The local runtime as `npm start` runs it: delete policy `mirror` on a versioned DR bucket, as on AWS
 * (docs/design.md, invariant 2). What only a versioned DR bucket makes possible, end to end with the real
 * handlers: a source delete becomes a DR delete marker over a noncurrent version ("Working with delete
 * markers", https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html), restore brings a
 * deleted object back from under it (`includeDeleted`), and `asOf` picks an older version of an object
 * overwritten since ("Using versioning in S3 buckets",
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { toDrKey } from '../../lib/core/key-mapping.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { type RestoreHandler, restoreReport } from '../helpers/jobs.ts';
import { putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;
let restore: RestoreHandler;
const invoke = (payload: unknown): Promise<RestoreReport> => restoreReport(rt, restore, payload);
const drKeyOf = (key: string) => toDrKey(rt.config.keyLayout, source, key);

async function text(bucket: string, key: string): Promise<string> {
  const r = await rt.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await r.Body?.transformToString()) ?? '';
}

beforeAll(async () => {
  // No overrides: the local stage's own settings.
  rt = await startLocalRuntime({ port: 0, quiet: true });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
  restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

describe('versions on the local runtime (delete policy mirror, the local default)', () => {
  it('runs with delete policy mirror on a versioned DR bucket', async () => {
    expect(rt.config.deletePolicy).toBe('mirror');
  });

  it('turns a source delete into a DR delete marker that leaves the data as a noncurrent version', async () => {
    // Prepare
    const key = 'mirror/deleted.txt';
    await putObject(rt.s3, source, key, Buffer.from('the only copy'));
    await rt.drain(scaled(60_000));
    const replicated = await rt.s3.send(new HeadObjectCommand({ Bucket: dr, Key: drKeyOf(key) }));

    // Act
    await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    await rt.drain(scaled(60_000));

    // Assess: gone from DR's current view, kept underneath.
    await expect(rt.s3.send(new HeadObjectCommand({ Bucket: dr, Key: drKeyOf(key) }))).rejects.toBeInstanceOf(
      S3ServiceException,
    );
    const listed = await rt.s3.send(new ListObjectVersionsCommand({ Bucket: dr, Prefix: drKeyOf(key) }));
    expect(listed.DeleteMarkers?.map((d) => d.IsLatest)).toEqual([true]);
    expect(listed.Versions?.map((v) => [v.VersionId, v.IsLatest, v.ETag])).toEqual([
      [replicated.VersionId, false, replicated.ETag],
    ]);
  }, 120_000);

  it('restores an object deleted at the source from under its DR delete marker (includeDeleted)', async () => {
    // Prepare
    const key = 'mirror/brought back.txt';
    await putObject(rt.s3, source, key, Buffer.from('deleted by mistake'));
    await rt.drain(scaled(60_000));
    await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    await rt.drain(scaled(60_000));

    // Act
    const report = await invoke({ keys: [key], includeDeleted: true, dryRun: false });

    // Assess
    expect(report.results?.restored.objects).toBe(1);
    expect(report.results?.failed.objects).toBe(0);
    expect(await text(source, key)).toBe('deleted by mistake');
  }, 120_000);

  it('restores the middle of three versions with asOf', async () => {
    // Prepare: three versions, each replicated before the next is written.
    const key = 'mirror/overwritten.txt';
    await putObject(rt.s3, source, key, Buffer.from('first'));
    await rt.drain(scaled(60_000));
    await putObject(rt.s3, source, key, Buffer.from('second'));
    await rt.drain(scaled(60_000));
    const asOf = new Date().toISOString();
    await putObject(rt.s3, source, key, Buffer.from('third'));
    await rt.drain(scaled(60_000));
    const versions = await rt.s3.send(new ListObjectVersionsCommand({ Bucket: dr, Prefix: drKeyOf(key) }));
    expect(versions.Versions).toHaveLength(3);

    // Act
    const report = await invoke({ keys: [key], asOf, dryRun: false });

    // Assess
    expect(report.results?.restored.objects).toBe(1);
    expect(await text(source, key)).toBe('second');
  }, 120_000);
});
