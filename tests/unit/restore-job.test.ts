/**
 * Restore jobs over the in-memory S3 (tests/helpers/memory-store.ts), where a test decides when a
 * worker dies: a port call that never returns is a Lambda killed mid-request — no catch, no finally,
 * its lease left behind until its deadline, its message redelivered after the visibility timeout.
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
import { delivery, jobWorker } from '../helpers/job-worker.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { noOutcomes, silentLog } from '../helpers/telemetry.ts';

const settings = loadConfig({
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'us-east-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'us-west-2',
  S3DR_RESTORE_CONCURRENCY: '1',
  S3DR_SAFETY_MARGIN_MS: '1000',
});

function setup(keys: string[]) {
  const world = new MemoryWorld();
  const dr = world.bucket('dr-bucket', { versioned: true });
  world.bucket('source-bucket');
  for (const key of keys) dr.put(key, `body of ${key}`, { metadata: { 's3dr-source-etag': 'x' } });
  const sent: JobMessage[] = [];
  let now = Date.parse('2026-12-01T10:00:00Z');
  const clock: Clock & { advance(ms: number): void } = {
    now: () => new Date(now),
    remainingMs: () => 900_000,
    advance: (ms) => {
      now += ms;
    },
  };
  const deps: RestoreJobDeps = {
    dr,
    storeFor: (bucket) => world.bucket(bucket),
    clock,
    settings,
    logger: silentLog,
    metrics: { addMetric() {} },
    outcomes: noOutcomes,
    queue: { send: async (messages) => void sent.push(...messages) },
    stage: 'test',
    shardKeys: 1000,
    maxReceiveCount: 5,
    chunkKeys: 10,
  };
  const copiesOf = (key: string) =>
    world.log.filter((op) => op.bucket === 'source-bucket' && op.op === 'copy' && op.key === key).length;
  return { world, deps, sent, clock, copiesOf };
}

describe('restore job shards', () => {
  it('resume from their checkpoint after a worker is killed mid-shard, and copy no key twice', async () => {
    // Prepare: 30 deleted-at-the-source keys, one shard, checkpoints every 10 keys.
    const keys = Array.from({ length: 30 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
    const { world, deps, sent, clock, copiesOf } = setup(keys);
    const started = await startRestoreJob(parseRestorePayload({ prefix: 'k/', dryRun: false }), deps);
    await runJobMessage(sent.shift() as RestoreMessage, 1, 'planner', deps);
    const shardMessage = sent.shift() as RestoreMessage;
    expect(shardMessage).toMatchObject({ kind: 'shard', shard: 0 });

    // Act 1: worker A is killed on its 16th copy (the 6th of its second chunk): that call never returns.
    let copies = 0;
    let killed!: () => void;
    const killedAt = new Promise<void>((resolve) => {
      killed = resolve;
    });
    world.beforeOp = async (op) => {
      if (op.op !== 'copy') return;
      copies += 1;
      if (copies === 16) {
        killed();
        await new Promise<never>(() => {}); // the process is gone
      }
    };
    void runJobMessage(shardMessage, 1, 'worker-a', deps);
    await killedAt;
    world.beforeOp = undefined;

    // Act 2: the redelivered message meets A's lease while A's deadline has not passed, then takes over.
    expect(await runJobMessage(shardMessage, 2, 'worker-b', deps)).toBe('busy');
    clock.advance(900_001);
    expect(await runJobMessage(shardMessage, 3, 'worker-b', deps)).toBe('done');

    // Assess: every key restored, none copied twice, and B started at A's checkpoint (after 10 keys),
    // not at the start of the shard: of B's 20 keys, the 5 A copied before it died are identical now.
    const status = await jobStatus(started.job, deps);
    expect(status.state).toBe('complete');
    for (const key of keys) expect(copiesOf(key)).toBeLessThanOrEqual(1);
    expect(keys.filter((k) => world.bucket('source-bucket').objects.has(k))).toEqual(keys);
    expect(status.progress.objects).toBe(30);
    expect(status.counts).toMatchObject({ restore: 25, 'skip-identical': 5, restored: 25 });
  });

  it('fails the job, naming the shard, when another delivery held the shard at every try up to maxReceiveCount (the last before the job DLQ: "Using dead-letter queues in Amazon SQS")', async () => {
    // Prepare: one shard, claimed by worker A, which dies mid-shard; its lease outlives every redelivery.
    const keys = Array.from({ length: 30 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
    const { world, deps, sent } = setup(keys);
    const started = await startRestoreJob(parseRestorePayload({ prefix: 'k/', dryRun: false }), deps);
    await runJobMessage(sent.shift() as RestoreMessage, 1, 'planner', deps);
    const shardMessage = sent.shift() as RestoreMessage;
    let killed!: () => void;
    const killedAt = new Promise<void>((resolve) => {
      killed = resolve;
    });
    world.beforeOp = async (op) => {
      if (op.op !== 'copy') return;
      killed();
      await new Promise<never>(() => {}); // the process is gone
    };
    void runJobMessage(shardMessage, 1, 'worker-a', deps);
    await killedAt;
    world.beforeOp = undefined;

    // Act: tries 2 to 5 meet A's lease; the 5th is the last before the job DLQ.
    for (const receiveCount of [2, 3, 4, 5]) {
      await expect(
        jobWorker({ restore: deps }, `worker-${receiveCount}`)(delivery(shardMessage, receiveCount)),
      ).rejects.toThrow(/another delivery/);
    }

    // Assess: the job does not wait for a message that is gone: it ended failed, and says why.
    const status = await jobStatus(started.job, deps);
    expect(status.state).toBe('failed');
    expect(status.failedShards).toEqual([
      {
        shard: 0,
        error: expect.stringMatching(
          /ShardBusyError: another delivery held shard 0 .* at each of its 5 tries \(after 5 tries; the message is in the job DLQ\)/,
        ),
      },
    ]);
    expect((status.report as { complete?: boolean } | undefined)?.complete).toBe(false);
  });

  it('treats a redelivered message of a finished shard as done, without reading or copying anything', async () => {
    const keys = ['a/1', 'a/2'];
    const { world, deps, sent } = setup(keys);
    await startRestoreJob(parseRestorePayload({ prefix: 'a/', dryRun: false }), deps);
    await runJobMessage(sent.shift() as RestoreMessage, 1, 'planner', deps);
    const shard = sent.shift() as RestoreMessage;
    await runJobMessage(shard, 1, 'worker-a', deps);
    const before = world.log.length;
    expect(await runJobMessage(shard, 1, 'worker-b', deps)).toBe('done');
    expect(world.log.slice(before).map((op) => op.op)).toEqual(['readText', 'readText']);
  });

  it('waits on S3 for as few round trips as its work needs: job state is read and written alongside, not in turn', async () => {
    // Prepare: 30 keys in chunks of 10, one key at a time (restoreConcurrency 1). Real S3 answers a small
    // request in tens of ms ("Timeouts and Retries for Latency-Sensitive Applications", AWS whitepaper
    // Optimizing Amazon S3 Performance), so every round trip a shard waits on is time without copies.
    // Each port call waits for the current round; a round ends when every caller is waiting again.
    const keys = Array.from({ length: 30 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
    const { world, deps, sent } = setup(keys);
    await startRestoreJob(parseRestorePayload({ prefix: 'k/', dryRun: false }), deps);
    await runJobMessage(sent.shift() as RestoreMessage, 1, 'planner', deps);
    let waiting: (() => void)[] = [];
    let rounds = 0;
    world.beforeOp = () => new Promise<void>((resolve) => waiting.push(resolve));
    let finished = false;
    const shard = runJobMessage(sent.shift() as RestoreMessage, 1, 'worker-a', deps).finally(() => {
      finished = true;
    });
    // Act: release one round at a time, once the shard has issued everything it can without an answer.
    while (!finished) {
      await new Promise((r) => setImmediate(r));
      if (waiting.length === 0) continue;
      rounds += 1;
      const round = waiting;
      waiting = [];
      for (const release of round) release();
    }
    // Assess: per key a HEAD and a COPY (60); per chunk the target check with the versioning read, and
    // the two listings (9); between chunks the checkpoint with the cancel check (2); the claim (2) and the
    // finish (7). Each of those reads in turn, as before, took 87.
    expect(await shard).toBe('done');
    expect(rounds).toBeLessThanOrEqual(80);
  });
});
