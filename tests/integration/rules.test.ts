/**
 * Replication rules on the local runtime (S3DR_RULES), real handlers over the emulator:
 * - an excluded prefix is never copied, and verify reports it neither missing nor orphaned;
 * - a rule with another storage class yields DR copies in that class (the emulator keeps classes as S3
 *   does: tests/integration/emulator-storage-class.test.ts; ListObjectsV2 names each object's class);
 * - a key whose tags change (`s3:ObjectTagging:*`, User Guide "Event notification types and
 *   destinations") moves to its new rule's settings; when its new rule excludes it, its DR copy is kept.
 */
import {
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { scaled } from '../helpers/time-scale.ts';

const RULES = [
  { id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false },
  { id: 'no-backup', filter: { tags: { backup: 'no' } }, replicate: false },
  { id: 'cold', filter: { tags: { tier: 'cold' } }, drStorageClass: 'GLACIER_IR' },
  { id: 'archive', filter: { prefix: 'archive/' }, drStorageClass: 'STANDARD_IA', deletePolicy: 'retain' },
];

let rt: LocalRuntime;
let source: string;
let dr: string;

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    env: { S3DR_COPY_TAGS: 'true', S3DR_RULES: JSON.stringify(RULES) },
  });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

/** Each DR key under a prefix with the class ListObjectsV2 gives it. */
const drClasses = async (prefix: string) =>
  Object.fromEntries(
    ((await rt.s3.send(new ListObjectsV2Command({ Bucket: dr, Prefix: prefix }))).Contents ?? []).map((o) => [
      o.Key,
      o.StorageClass,
    ]),
  );
const put = (key: string, body: string, tagging?: string) =>
  rt.s3.send(
    new PutObjectCommand({ Bucket: source, Key: key, Body: body, ...(tagging ? { Tagging: tagging } : {}) }),
  );
const retag = (key: string, tags: Record<string, string>) =>
  rt.s3.send(
    new PutObjectTaggingCommand({
      Bucket: source,
      Key: key,
      Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
    }),
  );

describe('replication rules on the local runtime', () => {
  it('never copies a key under an excluded prefix, and verify stays clean', async () => {
    expect(rt.config.rules.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    await put('tmp/scratch.bin', 'scratch');
    await put('tmp/other.bin', 'other');
    await put('kept/a.txt', 'a');
    await rt.drain(scaled(60_000));
    expect(await drClasses('tmp/')).toEqual({});
    expect(await drClasses('kept/')).toEqual({ 'kept/a.txt': 'STANDARD' });

    const report = (await rt.verifyNow({ repair: true, graceSeconds: 0 })) as VerifyReport;
    expect(report.counts).toMatchObject({ missing: 0, orphaned: 0, mismatched: 0 });
    expect(report.buckets[0]?.rules?.samples.excluded).toEqual(
      expect.arrayContaining(['tmp/other.bin', 'tmp/scratch.bin']),
    );
    await rt.drain(scaled(60_000));
    expect(await drClasses('tmp/')).toEqual({});
  });

  it('writes the DR copies of a rule in its storage class', async () => {
    await put('archive/2019.tar', 'old');
    await put('photos/cold.jpg', 'cold', 'tier=cold');
    await rt.drain(scaled(60_000));
    expect(await drClasses('archive/')).toEqual({ 'archive/2019.tar': 'STANDARD_IA' });
    expect(await drClasses('photos/cold')).toEqual({ 'photos/cold.jpg': 'GLACIER_IR' });
    const head = await rt.s3.send(new HeadObjectCommand({ Bucket: dr, Key: 'archive/2019.tar' }));
    expect(head.StorageClass).toBe('STANDARD_IA');
  });

  it('moves a key to its new rule when its tags change, and keeps its DR copy when the new rule excludes it', async () => {
    const key = 'photos/moving.jpg';
    await put(key, 'moving');
    await rt.drain(scaled(60_000));
    expect(await drClasses(key)).toEqual({ [key]: 'STANDARD' });

    await retag(key, { tier: 'cold' });
    await rt.drain(scaled(60_000));
    expect(await drClasses(key)).toEqual({ [key]: 'GLACIER_IR' });
    const drTags = await rt.s3.send(new GetObjectTaggingCommand({ Bucket: dr, Key: key }));
    expect(drTags.TagSet).toEqual([{ Key: 'tier', Value: 'cold' }]);

    await retag(key, {});
    await rt.drain(scaled(60_000));
    expect(await drClasses(key)).toEqual({ [key]: 'STANDARD' });

    // Excluded now: the copy DR holds stays as it is, even when the source object is deleted.
    await retag(key, { backup: 'no' });
    await rt.drain(scaled(60_000));
    await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    await rt.drain(scaled(60_000));
    expect(await drClasses(key)).toEqual({ [key]: 'STANDARD' });
    const report = (await rt.verifyNow({
      repair: false,
      graceSeconds: 0,
      prefix: 'photos/',
    })) as VerifyReport;
    expect(report.counts).toMatchObject({ missing: 0, orphaned: 0, mismatched: 0 });
    expect(report.buckets[0]?.rules?.samples.excluded).toContain(key);
  });
});
