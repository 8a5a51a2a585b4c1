/**
 * The local runtime's job workers as processes of their own (`jobWorkerProcesses`), as Lambda runs each
 * concurrent invocation of the job worker in an execution environment of its own ("Lambda execution
 * environment": each environment handles one invocation at a time; concurrent invocations get separate
 * environments, https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). A job
 * restores through them end to end, each process taking one batch at a time from the job queue, and
 * each reports its own peak RSS.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { type RestoreHandler, runRestoreJob } from '../helpers/jobs.ts';
import { bodyFor, listKeys, putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

const TARGET = 'processes-target';
const WORKERS = 2;

let rt: LocalRuntime;
let restore: RestoreHandler;

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    env: { S3DR_RESTORE_TARGETS: TARGET, S3DR_JOB_SHARD_KEYS: '5' },
    extraBuckets: [TARGET],
    jobWorkers: WORKERS,
    jobWorkerProcesses: true,
  });
  restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
}, 120_000);

afterAll(async () => {
  await rt?.stop();
});

describe('job workers in processes of their own', () => {
  it('run a restore job to completion, shard by shard, and each report its peak RSS', async () => {
    const source = rt.config.sourceBuckets[0]!;
    const keys = Array.from({ length: 20 }, (_, i) => `proc/${String(i).padStart(2, '0')}.txt`);
    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, 100)));
    await rt.drain(scaled(120_000));

    const status = await runRestoreJob(rt, restore, {
      prefix: 'proc/',
      target: { bucket: TARGET },
      dryRun: false,
    });

    expect(status.state).toBe('complete');
    expect(status.shards).toMatchObject({ planned: 4, done: 4 });
    expect(status.counts.restored).toBe(keys.length);
    expect(await listKeys(rt.s3, TARGET, 'proc/')).toEqual(keys);
    await rt.pauseJobWorkers(); // each process answers with its peak RSS
    const rss = rt.jobWorkerPeakRssMiB();
    expect(rss?.each).toHaveLength(WORKERS);
    for (const mib of rss?.each ?? []) expect(mib).toBeGreaterThan(20);
    rt.resumeJobWorkers();
  }, 300_000);
});
