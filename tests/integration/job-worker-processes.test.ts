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
import { v8HeapFlags } from '../../local/function-processes.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { loadLocalSettings } from '../../local/settings.ts';
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
    for (const mib of rss?.heapUsedEach ?? []) expect(mib).toBeGreaterThan(0);
    rt.resumeJobWorkers();
  }, 300_000);

  // Lambda's Node.js runtime sizes V8's heap from memorySize unless NODE_OPTIONS names the limits (its
  // bootstrap script, /var/runtime/bootstrap in the Lambda base image, keeps --max-semi-space-size and
  // --max-old-space-size when they are given): serverless.yml gives the job worker its own.
  it('run each job worker with the V8 heap limits serverless.yml gives the function', async () => {
    const settings = await loadLocalSettings();
    const flags = v8HeapFlags(settings.functionEnv.jobWorker?.NODE_OPTIONS);
    expect(flags.map((f) => f.split('=')[0])).toEqual(['--max-semi-space-size', '--max-old-space-size']);
    await rt.pauseJobWorkers();
    expect(rt.jobWorkerPeakRssMiB()?.v8Flags).toEqual(flags);
    rt.resumeJobWorkers();
  }, 120_000);
});
