/**
 * Restore as a job on the local runtime: the restore handler answers at once with a job, the job worker
 * (drained from the job queue as Lambda's event source mapping would) plans shards and runs them, and
 * status, cancel and every refusal go through the same handler, as `sls invoke -f restore` does.
 */
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  JobConflictError,
  JobFinishedError,
  OtherStageJobError,
  UnknownJobError,
} from '../../lib/core/errors.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { InvalidJobRequestError } from '../../lib/jobs/model.ts';
import { InvalidRestorePayloadError } from '../../lib/restore/payload.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { invokeRestore, type RestoreHandler, runRestoreJob } from '../helpers/jobs.ts';
import { bodyFor, listKeys, putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

const TARGET = 'jobs-target';
const DOOMED = 'jobs-doomed-target';
const SHARD_KEYS = 10;

let rt: LocalRuntime;
let source: string;
let restore: RestoreHandler;

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    env: { S3DR_RESTORE_TARGETS: `${TARGET},${DOOMED}`, S3DR_JOB_SHARD_KEYS: String(SHARD_KEYS) },
    extraBuckets: [TARGET, DOOMED],
    // A redelivery in seconds, not 6 × 15 minutes; two tries before the job DLQ. Scaled with the
    // machine's slowness: a shard still running when its message becomes visible again meets its own
    // lease on the redelivery, and at the last try that fails the job (seen at 1 s under load 19).
    jobVisibilityTimeoutSeconds: Math.max(2, Math.round(scaled(2_000) / 1000)),
    jobMaxReceiveCount: 2,
  });
  source = rt.config.sourceBuckets[0]!;
  restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
}, 120_000);

afterAll(async () => {
  await rt?.stop();
});

async function jobStateKeys(): Promise<string[]> {
  const r = await rt.s3.send(new ListObjectsV2Command({ Bucket: rt.config.drBucket, Prefix: '.s3dr/jobs/' }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

async function copies(): Promise<number> {
  return (await rt.emulator.requestCounts()).CopyObject ?? 0;
}

describe('restore jobs on the local runtime', () => {
  const keys = Array.from({ length: 35 }, (_, i) => `jobs/${String(i).padStart(3, '0')} file+ü.txt`);

  beforeAll(async () => {
    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, 100)));
    await rt.drain(scaled(120_000));
    await rt.s3.send(
      new DeleteObjectsCommand({ Bucket: source, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    await rt.drain(scaled(60_000));
  }, 180_000);

  it('answers a start at once with a job, runs it in shards, and reports what the synchronous run reported', async () => {
    // Act: start (the worker is paused so the answer is seen before any shard ran).
    await rt.pauseJobWorkers();
    // Into a bucket the pipeline does not replicate, so every CopyObject counted is the restore's.
    const started = await invokeRestore(restore, {
      prefix: 'jobs/',
      target: { bucket: TARGET, prefix: 'first/' },
      dryRun: false,
    });
    expect(started).toMatchObject({ state: 'planning', dryRun: false });
    expect(started.job).toMatch(/^local\.restore\.\d{8}T\d{9}Z\.[0-9a-f]{12}$/);
    const copiesBefore = await copies();
    rt.resumeJobWorkers();
    await rt.jobsIdle(scaled(120_000));
    const done = await invokeRestore(restore, { job: started.job });

    // Assess: four shards of at most 10 keys, every key restored once, the report as a sync run's.
    expect(done.state).toBe('complete');
    expect(done.shards).toEqual({ planned: 4, done: 4, failed: 0, cancelled: 0 });
    expect(done.progress).toMatchObject({ objects: keys.length, objectsPlanned: keys.length });
    expect(done.counts).toMatchObject({ restore: keys.length, restored: keys.length, failed: 0 });
    expect(done.report).toMatchObject({
      complete: true,
      examined: keys.length,
      results: { restored: { objects: keys.length, bytes: keys.length * 100 } },
    });
    expect(await listKeys(rt.s3, TARGET, 'first/')).toEqual(keys.map((k) => `first/${k}`).sort());
    expect((await copies()) - copiesBefore).toBe(keys.length);
  }, 180_000);

  it('runs the same request again as a new job, which finds everything identical and copies nothing', async () => {
    const copiesBefore = await copies();
    const again = await runRestoreJob(rt, restore, {
      prefix: 'jobs/',
      target: { bucket: TARGET, prefix: 'first/' },
      dryRun: false,
    });
    expect(again.state).toBe('complete');
    expect(again.counts).toMatchObject({ 'skip-identical': keys.length, restored: 0 });
    expect(await copies()).toBe(copiesBefore);
  }, 120_000);

  it('answers an identical start with the running job, and refuses one that differs only in dryRun', async () => {
    await rt.pauseJobWorkers();
    const first = await invokeRestore(restore, { prefix: 'jobs/', target: { bucket: TARGET } });
    const resent = await invokeRestore(restore, { prefix: 'jobs/', target: { bucket: TARGET } });
    expect(resent).toMatchObject({ job: first.job, alreadyRunning: true });
    const before = await jobStateKeys();
    await expect(
      invokeRestore(restore, { prefix: 'jobs/', target: { bucket: TARGET }, dryRun: false }),
    ).rejects.toThrow(JobConflictError);
    expect(await jobStateKeys()).toEqual(before);
    rt.resumeJobWorkers();
    await rt.jobsIdle(scaled(120_000));
    const done = await invokeRestore(restore, { job: first.job });
    expect(done).toMatchObject({ state: 'complete', dryRun: true });
    expect(done.counts.restore).toBe(keys.length);
    expect(await listKeys(rt.s3, TARGET, 'jobs/')).toEqual([]);
  }, 120_000);

  it('cancels a job cleanly: no shard runs after it, and a second cancel is refused', async () => {
    await rt.pauseJobWorkers();
    const started = await invokeRestore(restore, {
      prefix: 'jobs/',
      target: { bucket: TARGET, prefix: 'cancelled/' },
      dryRun: false,
    });
    const cancelled = await invokeRestore(restore, { job: started.job, cancel: true });
    expect(cancelled.state).toBe('cancelled');
    rt.resumeJobWorkers();
    await rt.jobsIdle(scaled(120_000));
    const status = await invokeRestore(restore, { job: started.job });
    expect(status.state).toBe('cancelled');
    expect(await listKeys(rt.s3, TARGET, 'cancelled/')).toEqual([]);
    await expect(invokeRestore(restore, { job: started.job, cancel: true })).rejects.toThrow(
      JobFinishedError,
    );
  }, 120_000);

  it('refuses bad job requests by name and writes nothing', async () => {
    const before = await jobStateKeys();
    await expect(
      invokeRestore(restore, { job: 'local.restore.20260101T000000000Z.0123456789ab' }),
    ).rejects.toThrow(UnknownJobError);
    await expect(invokeRestore(restore, { job: 'no such thing' })).rejects.toThrow(UnknownJobError);
    await expect(
      invokeRestore(restore, { job: 'prod.restore.20260101T000000000Z.0123456789ab' }),
    ).rejects.toThrow(OtherStageJobError);
    await expect(invokeRestore(restore, { job: 'x', cancel: 'yes' })).rejects.toThrow(InvalidJobRequestError);
    await expect(invokeRestore(restore, { job: 'x', prefix: 'jobs/' })).rejects.toThrow(
      InvalidJobRequestError,
    );
    await expect(invokeRestore(restore, { prefix: 'jobs/', cursor: 'abc' })).rejects.toThrow(
      InvalidRestorePayloadError,
    );
    expect(await jobStateKeys()).toEqual(before);
  });

  it('puts a shard that keeps failing in the job DLQ and reports the job failed with that shard', async () => {
    // Prepare: the target bucket disappears once the job has passed its start checks, so every shard
    // fails (the target cannot be listed), on every try.
    await rt.pauseJobWorkers();
    const started = await invokeRestore(restore, {
      prefix: 'jobs/',
      target: { bucket: DOOMED },
      dryRun: false,
    });
    await rt.s3.send(new DeleteBucketCommand({ Bucket: DOOMED }));
    rt.resumeJobWorkers();
    await rt.jobsIdle(scaled(120_000));

    const status = await invokeRestore(restore, { job: started.job });
    expect(status.state).toBe('failed');
    expect(status.shards.failed).toBeGreaterThan(0);
    expect(status.failedShards[0]?.error).toMatch(/job DLQ/);
    const dlq = await rt.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: rt.jobDlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(Number(dlq.Attributes?.ApproximateNumberOfMessages)).toBe(status.shards.failed);
  }, 120_000);
});
