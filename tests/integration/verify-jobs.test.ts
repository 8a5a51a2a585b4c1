/**
 * Verify as a job on the local runtime: the verify handler answers at once with a job, the job worker
 * (drained from the job queue as Lambda's event source mapping would, several batches at once up to its
 * maximum concurrency: "Configuring scaling behavior for SQS event source mappings",
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html) plans the pass into key-range
 * shards of S3DR_VERIFY_SHARD_KEYS source keys and verifies them in parallel, and status, cancel and
 * every refusal go through the same handler, as `sls invoke -f verify` does.
 */
import { readFile } from 'node:fs/promises';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Runtime } from '../../functions/runtime.ts';
import {
  JobFinishedError,
  OtherKindJobError,
  OtherStageJobError,
  UnknownJobError,
} from '../../lib/core/errors.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { lambdaContext } from '../../local/lambda-context.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { invokeRestore, type RestoreHandler } from '../helpers/jobs.ts';
import { bodyFor, putObject } from '../helpers/objects.ts';
import { invokeVerify, runVerifyJob, type VerifyHandler, verifyRun } from '../helpers/verify.ts';

let rt: LocalRuntime;
let source: string;
let verify: VerifyHandler;
let restore: RestoreHandler;
let runtime: Runtime;

beforeAll(async () => {
  // Shards of 5 source keys: the 25 keys below are 6 shards (the last open-ended).
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    env: { S3DR_DELETE_POLICY: 'mirror', S3DR_VERIFY_SHARD_KEYS: '5' },
  });
  source = rt.config.sourceBuckets[0]!;
  verify = (await import('../../functions/verify.ts')).handler as unknown as VerifyHandler;
  restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
  runtime = (await import('../../functions/runtime.ts')).createRuntime();
}, 120_000);

afterAll(async () => {
  runtime?.destroy();
  await rt?.stop();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const r = await rt.s3.send(new ListObjectsV2Command({ Bucket: rt.config.drBucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

describe('verify jobs on the local runtime', () => {
  const keys = Array.from({ length: 25 }, (_, i) => `vjobs/${String(i).padStart(3, '0')} file+ü.txt`);
  const scope = { prefix: 'vjobs/', graceSeconds: 0 };

  beforeAll(async () => {
    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, 100)));
    await rt.drain(120_000);
  }, 180_000);

  it('answers a start at once with a job, runs the pass, and reports what a direct verify run reports', async () => {
    // Act: start (the worker is paused so the answer is seen before any run).
    await rt.pauseJobWorkers();
    const started = await invokeVerify(verify, { ...scope, repair: false });
    expect(started).toMatchObject({ kind: 'verify', state: 'planning', runs: 0 });
    expect(started.job).toMatch(/^local\.verify\.\d{8}T\d{9}Z\.[0-9a-f]{12}$/);
    rt.resumeJobWorkers();
    await rt.jobsIdle();
    const done = await invokeVerify(verify, { job: started.job });

    // Assess: complete, with the counts one direct (unbounded) run of the same request gives.
    const direct = await verifyRun(runtime, { ...scope, repair: false }, lambdaContext('verify', 900_000));
    expect(done).toMatchObject({
      state: 'complete',
      runs: 6,
      shards: { planned: 6, done: 6 },
      progress: { objects: keys.length },
    });
    const report = done.report as VerifyReport;
    expect(report.counts).toEqual(direct.counts);
    expect(report.counts).toMatchObject({ ok: keys.length, missing: 0 });
    expect(report.pass.complete).toBe(true);
  }, 180_000);

  it('verifies shards in parallel: more than one shard listing the source at once', async () => {
    // Every shard after the first lists the source from its range's start (StartAfter): each such
    // listing of the job worker is held until another is in flight too — an event, not a time.
    type Send = (this: S3Client, command: ListObjectsV2Command, ...rest: unknown[]) => Promise<unknown>;
    const proto = S3Client.prototype as unknown as { send: Send };
    const original = proto.send;
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const together = new Promise<void>((resolve) => {
      release = resolve;
    });
    proto.send = async function send(command, ...rest) {
      const input = command.input as { Bucket?: string; Prefix?: string; StartAfter?: string };
      const shardListing =
        command instanceof ListObjectsV2Command &&
        input.Bucket === source &&
        input.Prefix === 'vjobs/' &&
        input.StartAfter !== undefined;
      if (!shardListing) return original.call(this, command, ...rest);
      inFlight += 1;
      most = Math.max(most, inFlight);
      if (inFlight >= 2) release();
      try {
        await together;
        return await original.call(this, command, ...rest);
      } finally {
        inFlight -= 1;
      }
    };
    try {
      const status = await runVerifyJob(rt, verify, { ...scope, repair: false });
      expect(status).toMatchObject({ state: 'complete', shards: { planned: 6, done: 6 } });
      expect(status.report).toMatchObject({ counts: { ok: keys.length, missing: 0 } });
    } finally {
      proto.send = original;
    }
    expect(most).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it('answers an identical start with the running job', async () => {
    await rt.pauseJobWorkers();
    const first = await invokeVerify(verify, { ...scope, repair: false });
    const resent = await invokeVerify(verify, { ...scope, repair: false });
    expect(resent).toMatchObject({ job: first.job, alreadyRunning: true });
    rt.resumeJobWorkers();
    await rt.jobsIdle();
    expect((await invokeVerify(verify, { job: first.job })).state).toBe('complete');
  }, 120_000);

  it('starts the default job from the schedule’s EventBridge event, as a bare invoke does', async () => {
    const schedule = JSON.parse(
      await readFile(new URL('../../events/verify-schedule.json', import.meta.url), 'utf8'),
    ) as unknown;
    await rt.pauseJobWorkers();
    const scheduled = await invokeVerify(verify, schedule);
    expect(scheduled).toMatchObject({ kind: 'verify', state: 'planning' });
    expect(await invokeVerify(verify, {})).toMatchObject({ job: scheduled.job, alreadyRunning: true });
    rt.resumeJobWorkers();
    await rt.jobsIdle();
    const done = await invokeVerify(verify, { job: scheduled.job });
    expect(done.state).toBe('complete');
    expect(done.report).toMatchObject({ repair: true, prefix: '', pass: { complete: true } });
  }, 120_000);

  it('repairs drift through the job: the report names what was missing, the next job finds it back', async () => {
    await rt.s3.send(new DeleteObjectCommand({ Bucket: rt.config.drBucket, Key: keys[4] }));
    const found = await runVerifyJob(rt, verify, scope);
    expect(found.state).toBe('complete');
    expect(found.report).toMatchObject({ counts: { missing: 1 }, repairsQueued: 1 });
    expect((found.report as VerifyReport).samples.missing).toEqual([keys[4]]);
    await rt.drain(60_000);
    const again = await runVerifyJob(rt, verify, scope);
    expect(again.report).toMatchObject({ counts: { ok: keys.length, missing: 0 }, repairsQueued: 0 });
  }, 180_000);

  it('expires the range state a finished job’s scope no longer uses: after the keys change, only the last job’s ranges stay', async () => {
    const rangeCursors = async () =>
      new Set((await keysUnder(`.s3dr/verify/${source}/range-`)).filter((k) => k.endsWith('.json')));
    const put = (names: string[]) =>
      mapConcurrent(names, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, 100)));
    await put(Array.from({ length: 12 }, (_, i) => `vexp/${String(i + 10).padStart(3, '0')}.txt`));
    await rt.drain(60_000);
    const before = await rangeCursors();
    expect((await runVerifyJob(rt, verify, { prefix: 'vexp/', graceSeconds: 0 })).state).toBe('complete');
    const first = [...(await rangeCursors())].filter((k) => !before.has(k));
    expect(first.length).toBe(3); // 12 keys in ranges of 5: two full, the open-ended last
    // Keys in front of the others move every boundary: the next job cuts other ranges.
    await put(['vexp/000.txt', 'vexp/001.txt']);
    await rt.drain(60_000);

    expect((await runVerifyJob(rt, verify, { prefix: 'vexp/', graceSeconds: 0 })).state).toBe('complete');

    const after = await rangeCursors();
    const second = [...after].filter((k) => !before.has(k) && !first.includes(k));
    expect(second.length).toBe(3);
    for (const cursor of first) expect(after.has(cursor)).toBe(false);
    // Other scopes' ranges (the jobs over vjobs/ above) are not this scope's to expire.
    for (const cursor of before) expect(after.has(cursor)).toBe(true);
  }, 180_000);

  it('cancels a job cleanly: no verify run after it, and a second cancel is refused', async () => {
    await rt.pauseJobWorkers();
    const runReports = await keysUnder('.s3dr/reports/verify/');
    const started = await invokeVerify(verify, { ...scope, deep: true });
    const cancelled = await invokeVerify(verify, { job: started.job, cancel: true });
    expect(cancelled).toMatchObject({ state: 'cancelled', runs: 0 });
    rt.resumeJobWorkers();
    await rt.jobsIdle();
    expect((await invokeVerify(verify, { job: started.job })).state).toBe('cancelled');
    expect(await keysUnder('.s3dr/reports/verify/')).toEqual(runReports);
    await expect(invokeVerify(verify, { job: started.job, cancel: true })).rejects.toThrow(JobFinishedError);
  }, 120_000);

  it("refuses by name an unknown job, another stage's, and a restore job's id (and restore a verify job's)", async () => {
    const before = await keysUnder('.s3dr/jobs/');
    await expect(
      invokeVerify(verify, { job: 'local.verify.20260101T000000000Z.0123456789ab' }),
    ).rejects.toThrow(UnknownJobError);
    await expect(
      invokeVerify(verify, { job: 'prod.verify.20260101T000000000Z.0123456789ab' }),
    ).rejects.toThrow(OtherStageJobError);
    await expect(
      invokeVerify(verify, { job: 'local.restore.20260101T000000000Z.0123456789ab', cancel: true }),
    ).rejects.toThrow(OtherKindJobError);
    await expect(
      invokeRestore(restore, { job: 'local.verify.20260101T000000000Z.0123456789ab' }),
    ).rejects.toThrow(OtherKindJobError);
    expect(await keysUnder('.s3dr/jobs/')).toEqual(before);
  });
});
