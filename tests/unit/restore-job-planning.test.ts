/**
 * How a restore job plans a prefix over the in-memory S3 (tests/helpers/memory-store.ts): in steps that
 * each fit in one invocation, every key in exactly one shard. The clock decides when a step must stop
 * (its remaining time), with no timer.
 */

import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import type { Clock } from '../../lib/core/ports.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import {
  jobStatus,
  type RestoreJobDeps,
  type RestoreMessage,
  runJobMessage,
  startRestoreJob,
} from '../../lib/restore/job.ts';
import { parseRestorePayload } from '../../lib/restore/payload.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentTelemetry } from '../helpers/telemetry.ts';

const settings = loadConfig({
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'us-east-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'us-west-2',
  S3DR_RESTORE_CONCURRENCY: '1',
  S3DR_SAFETY_MARGIN_MS: '1000',
});

function setup(keys: string[], remainingMs: number) {
  const world = new MemoryWorld();
  const dr = world.bucket('dr-bucket', { versioned: true });
  world.bucket('source-bucket');
  for (const key of keys) dr.put(key, `body of ${key}`, { metadata: { 's3dr-source-etag': 'x' } });
  const sent: JobMessage[] = [];
  const clock: Clock = { now: () => new Date('2026-12-01T10:00:00Z'), remainingMs: () => remainingMs };
  const deps: RestoreJobDeps = {
    dr,
    storeFor: (bucket) => world.bucket(bucket),
    clock,
    settings,
    ...silentTelemetry(),
    queue: { send: async (messages) => void sent.push(...messages) },
    stage: 'test',
    shardKeys: 2,
    maxReceiveCount: 5,
  };
  const copied = () =>
    world.log.filter((op) => op.bucket === 'source-bucket' && op.op === 'copy').map((op) => op.key);
  /** Delivers the queued messages in order, as one worker would, until the queue is empty. */
  const drain = async (): Promise<JobMessage[]> => {
    const delivered: JobMessage[] = [];
    for (let m = sent.shift(); m !== undefined; m = sent.shift()) {
      delivered.push(m);
      await runJobMessage(m as RestoreMessage, 1, 'worker', deps);
    }
    return delivered;
  };
  return { deps, copied, drain };
}

/** A delivered message as the assertions name it (a verify job's run would show as one, and fail them). */
const named = (m: JobMessage) =>
  m.kind === 'plan' ? `plan ${m.step}` : m.kind === 'shard' ? `shard ${m.shard}` : `run ${m.run}`;

describe('planning a prefix restore job', () => {
  it('cuts one shard per step when the invocation is nearly out of time, and plans on in the next step', async () => {
    // Prepare: five keys, two to a shard; every step runs with less than twice the safety margin left.
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    const { deps, copied, drain } = setup(keys, 1500);

    // Act
    const started = await startRestoreJob(parseRestorePayload({ prefix: 'k', dryRun: false }), deps);
    const delivered = await drain();

    // Assess: each step cut one shard and queued the next step; the last shard holds the one key left.
    expect(delivered.map(named)).toEqual(['plan 0', 'shard 0', 'plan 1', 'shard 1', 'plan 2', 'shard 2']);
    const status = await jobStatus(started.job, deps);
    expect(status).toMatchObject({
      state: 'complete',
      planning: { done: true, shards: 3 },
      shards: { planned: 3, done: 3, failed: 0, cancelled: 0 },
      progress: { objects: 5, objectsPlanned: 5 },
    });
    expect(copied()).toEqual(keys);
  });

  it('plans the whole prefix in one step when there is time', async () => {
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    const { deps, copied, drain } = setup(keys, 900_000);

    const started = await startRestoreJob(parseRestorePayload({ prefix: 'k', dryRun: false }), deps);
    const delivered = await drain();

    expect(delivered.map(named)).toEqual(['plan 0', 'shard 0', 'shard 1', 'shard 2']);
    expect(await jobStatus(started.job, deps)).toMatchObject({
      state: 'complete',
      planning: { done: true, shards: 3 },
    });
    expect(copied()).toEqual(keys);
  });
});
