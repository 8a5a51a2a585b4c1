/**
 * Verify jobs over the in-memory S3 (tests/helpers/memory-store.ts): a job plans shards of each source
 * bucket's key space on the job queue and verifies them in parallel, each shard a key range with its
 * own resumable cursor. A test runs the queued messages itself, one invocation each (all queued
 * messages of a round at once), and decides when an invocation's deadline comes.
 *
 * What SQS and S3 do that these tests stand in for:
 * - a message whose handling fails (here: throws, or answers `busy`, which lib/jobs/batch.ts throws) is
 *   not deleted and "will again reappear in the queue" after the visibility timeout ("Handling errors for
 *   an SQS event source in Lambda", AWS Lambda Developer Guide): the test delivers it again by hand, with
 *   a higher receive count; a message is delivered at least once, so duplicates are delivered here too;
 *   after maxReceiveCount receives it moves to the dead-letter queue ("Using dead-letter queues in
 *   Amazon SQS", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues), so the try with that receive count is the last;
 * - Lambda runs several batches of one SQS event source at once, up to its maximum concurrency
 *   ("Configuring scaling behavior for SQS event source mappings",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html): shard
 *   messages queued together run concurrently here;
 * - of two conditional writes of one key (`If-None-Match: *`, `If-Match`), one succeeds and the other
 *   gets 412 ("How to prevent object overwrites with conditional writes", Amazon S3 User Guide): the
 *   memory store answers so (the emulator's answers are held to S3's in
 *   tests/integration/emulator-conditional-writes.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import {
  JobConflictError,
  JobFinishedError,
  OtherKindJobError,
  OtherStageJobError,
  UnknownJobError,
} from '../../lib/core/errors.ts';
import { drPrefixFor } from '../../lib/core/key-mapping.ts';
import type { Clock } from '../../lib/core/ports.ts';
import type { Task } from '../../lib/core/task.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import { META_SOURCE_ETAG } from '../../lib/replicate/copy-object.ts';
import { cursorKey } from '../../lib/verify/cursor.ts';
import {
  cancelVerifyJob,
  runVerifyMessage,
  startVerifyJob,
  type VerifyJobDeps,
  verifyStatus,
} from '../../lib/verify/job.ts';
import { readShard } from '../../lib/verify/job-state.ts';
import { parseVerifyRequest } from '../../lib/verify/payload.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { verifySources } from '../../lib/verify/run.ts';
import { leaseKey } from '../../lib/verify/run-lease.ts';
import { delivery, jobWorker } from '../helpers/job-worker.ts';
import { MemoryWorld, type StoreOp } from '../helpers/memory-store.ts';
import { noOutcomes, silentLog } from '../helpers/telemetry.ts';

const settings = loadConfig({
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'us-east-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'us-west-2',
  S3DR_SAFETY_MARGIN_MS: '1000',
  S3DR_VERIFY_CONCURRENCY: '1',
});
const DR_PREFIX = drPrefixFor(settings.keyLayout, 'source-bucket');

/**
 * A source bucket of `keys`, all replicated except `missing`, plus `orphans` only in DR; shards of
 * `shardKeys` source keys. Invocations have `budget` looks at the clock each before their deadline
 * (about one per key): a deadline measured in progress, not wall time.
 */
function setup(opts: {
  keys: string[];
  missing?: string[];
  orphans?: string[];
  budget?: number;
  /** Looks at the clock a planning step's invocation has (default: `budget`). */
  planBudget?: number;
  shardKeys?: number;
  /** DR copies written with SSE-KMS (their ETag is not the source's), recording the source ETag. */
  kms?: boolean;
}) {
  const world = new MemoryWorld();
  const source = world.bucket('source-bucket');
  const dr = world.bucket('dr-bucket', { versioned: true });
  for (const key of opts.keys) {
    const { etag } = source.put(key, `body of ${key}`);
    const copy = opts.kms ? { kms: true, metadata: { [META_SOURCE_ETAG]: etag } } : {};
    if (!opts.missing?.includes(key)) dr.put(DR_PREFIX + key, `body of ${key}`, copy);
  }
  for (const key of opts.orphans ?? []) dr.put(DR_PREFIX + key, 'gone');
  const sent: JobMessage[] = [];
  const tasks: Task[] = [];
  const metrics: { name: string; value: number }[] = [];
  let now = Date.parse('2026-12-01T10:00:00Z');
  /** An invocation's clock: one shared time, a deadline of its own (invocations run at once). */
  const invocationClock = (budget = opts.budget): Clock => {
    let left = budget ?? Number.POSITIVE_INFINITY;
    return { now: () => new Date(now), remainingMs: () => (left-- > 0 ? 900_000 : 0) };
  };
  const clock: Clock & { advance(ms: number): void } = {
    ...invocationClock(),
    remainingMs: () => 900_000,
    advance: (ms) => {
      now += ms;
    },
  };
  const deps: VerifyJobDeps = {
    dr,
    sourceStore: (bucket) => (bucket === 'source-bucket' ? source : undefined),
    queue: () => ({ send: async (t) => void tasks.push(...t) }),
    jobQueue: { send: async (messages) => void sent.push(...messages) },
    clock,
    settings,
    logger: silentLog,
    metrics: { addMetric: (name, _unit, value) => void metrics.push({ name, value }) },
    outcomes: noOutcomes,
    stage: 'test',
    maxReceiveCount: 5,
    shardKeys: opts.shardKeys ?? 10,
  };
  /** One invocation of one message. */
  const deliver = async (message: JobMessage, receiveCount = 1, worker = 'worker') => {
    const invocation: VerifyJobDeps = {
      ...deps,
      clock: invocationClock(message.kind === 'plan' ? (opts.planBudget ?? opts.budget) : opts.budget),
    };
    if (receiveCount < deps.maxReceiveCount) return runVerifyMessage(message, worker, invocation);
    // The last try goes through the job worker (lib/jobs/batch.ts), which records a failure on the job.
    await jobWorker({ verify: invocation }, worker)(delivery(message, receiveCount));
    return 'done' as const;
  };
  /**
   * Runs the queued messages in rounds — every message queued when a round starts, at once, as the
   * event source's concurrent batches — until the queue is empty; returns the deliveries.
   */
  const drain = async () => {
    let deliveries = 0;
    while (sent.length > 0) {
      // A job that never ends says so instead of looping until the test times out.
      if (deliveries > 1000)
        throw new Error(`still draining after ${deliveries} deliveries: ${JSON.stringify(sent.slice(0, 3))}`);
      const round = sent.splice(0);
      const outcomes = await Promise.all(round.map((m, i) => deliver(m, 1, `worker-${deliveries + i}`)));
      expect(outcomes.every((o) => o === 'done')).toBe(true);
      deliveries += round.length;
    }
    return deliveries;
  };
  const sourceLists = () =>
    world.log.filter((op) => op.bucket === 'source-bucket' && op.op === 'list').length;
  return { world, deps, sent, tasks, metrics, clock, deliver, drain, sourceLists };
}

const request = (payload: unknown = {}) => parseVerifyRequest(payload, settings);
const keys = Array.from({ length: 40 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
const scene = { keys, missing: ['k/03', 'k/17', 'k/31'], orphans: ['k/99', 'z'] };
const shardsOf = (sent: JobMessage[]) => sent.filter((m) => m.kind === 'shard');
const metricValues = (metrics: { name: string; value: number }[], name: string) =>
  metrics.filter((m) => m.name === name).map((m) => m.value);

/**
 * Holds the first store operation `matches` accepts until the test calls `release`; `reached` resolves
 * once it is held. Later operations pass.
 */
function holdFirst(world: MemoryWorld, matches: (op: StoreOp) => boolean) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  world.beforeOp = async (op) => {
    if (!matches(op)) return;
    world.beforeOp = undefined;
    arrived();
    await held;
  };
  return { reached, release };
}
const sourceList = (op: StoreOp) => op.bucket === 'source-bucket' && op.op === 'list';

describe('verify jobs', () => {
  it('answer a start at once with the job, verifying nothing until the job worker runs it', async () => {
    const { deps, sent, sourceLists } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    expect(started).toMatchObject({ kind: 'verify', state: 'planning', runs: 0 });
    expect(started.job).toMatch(/^test\.verify\./);
    expect(sent).toEqual([{ v: 1, kind: 'plan', job: started.job, step: 0 }]);
    expect(sourceLists()).toBe(0);
  });

  it('plan shards of the key space and verify them in parallel to the counts a direct verify gives; the pass metrics once', async () => {
    // Prepare: 40 keys, 3 missing in DR, 2 orphans; shards of 10 source keys.
    const directReport: VerifyReport = await verifySources(request({ repair: false }), setup(scene).deps);
    const { world, deps, sent, metrics, deliver, drain } = setup(scene);
    const started = await startVerifyJob(request({ repair: false }), deps);
    expect(await deliver(sent.shift() as JobMessage)).toBe('done');
    // Planning cut 4 full ranges and the open-ended last one (where the orphans past the last key are).
    const shards = shardsOf(sent);
    expect(shards).toHaveLength(5);
    expect((await verifyStatus(started.job, deps)).shards).toMatchObject({ planned: 5, done: 0 });
    // Every shard's first source listing waits until all five are listing: they run at once.
    let inside = 0;
    let open!: () => void;
    const allIn = new Promise<void>((resolve) => {
      open = resolve;
    });
    world.beforeOp = async (op) => {
      if (op.bucket !== 'source-bucket' || op.op !== 'list') return;
      inside += 1;
      if (inside === shards.length) {
        world.beforeOp = undefined;
        open();
      }
      await allIn;
    };

    // Act
    await drain();
    const status = await verifyStatus(started.job, deps);

    // Assess: one pass, complete, its totals those of the one unbounded run.
    expect(inside).toBe(shards.length);
    expect(status).toMatchObject({ state: 'complete', etaSeconds: 0, shards: { planned: 5, done: 5 } });
    const report = status.report as VerifyReport;
    expect(report.counts).toEqual(directReport.counts);
    expect(report.counts).toMatchObject({ ok: 37, missing: 3, orphaned: 2 });
    expect(report.samples.missing).toEqual(['k/03', 'k/17', 'k/31']);
    expect(report.pass.complete).toBe(true);
    expect(status.progress).toMatchObject({ objects: 42, objectsPlanned: 40 });
    // The pass metrics are published once, when its last shard finished: VerifyPassComplete is the
    // heartbeat the "verifier silent" alarm watches.
    expect(metricValues(metrics, 'VerifyPassComplete')).toEqual([1]);
    expect(metricValues(metrics, 'VerifyMissing')).toEqual([3]);
    expect(metricValues(metrics, 'VerifyObjectsChecked')).toEqual([42]);
    // Job progress, which the "job stalled" alarm watches, per shard run.
    expect(metricValues(metrics, 'JobObjectsExamined').reduce((a, b) => a + b, 0)).toBe(42);
  });

  it('run a shard over its time box as a chain of runs, each resuming the range’s cursor: same counts, metrics once', async () => {
    const directReport = await verifySources(request({ repair: false }), setup(scene).deps);
    const { deps, metrics, drain } = setup({ ...scene, budget: 6, shardKeys: 20 });
    const started = await startVerifyJob(request({ repair: false }), deps);
    const deliveries = await drain();
    const status = await verifyStatus(started.job, deps);
    // 1 planning step, 3 shards, each run time-boxed at a few keys: many more runs than shards.
    expect(status.shards).toMatchObject({ planned: 3, done: 3 });
    expect(status.runs).toBeGreaterThan(6);
    expect(deliveries).toBe(1 + (status.runs ?? 0));
    expect((status.report as VerifyReport).counts).toEqual(directReport.counts);
    expect(metricValues(metrics, 'VerifyPassComplete')).toEqual([1]);
  });

  it('plan in steps that each fit their invocation, each going on from the last key cut through', async () => {
    const directReport = await verifySources(request({ repair: false }), setup(scene).deps);
    const { deps, sent, deliver, drain } = setup({ ...scene, shardKeys: 5, planBudget: 3 });
    const started = await startVerifyJob(request({ repair: false }), deps);
    let steps = 0;
    while (sent.some((m) => m.kind === 'plan')) {
      const step = sent.find((m) => m.kind === 'plan') as JobMessage;
      sent.splice(sent.indexOf(step), 1);
      expect(await deliver(step)).toBe('done');
      steps += 1;
    }
    // 40 keys in shards of 5, and the open-ended last: 9 shards, cut over several steps.
    expect(steps).toBeGreaterThan(2);
    expect(shardsOf(sent).map((m) => m.kind === 'shard' && m.shard)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(status).toMatchObject({ state: 'complete', shards: { planned: 9, done: 9 } });
    expect(status.progress.objectsPlanned).toBe(40);
    expect((status.report as VerifyReport).counts).toEqual(directReport.counts);
  });

  it('reads the ETag ledger a range’s last pass wrote: the next job HEADs none of its SSE-KMS copies', async () => {
    // SSE-KMS copies: "objects encrypted by SSE-KMS have ETags that are not an MD5 digest of their object
    // data" (Amazon S3 API Reference, "Object": ETag); the first pass HEADs each DR copy once.
    const { world, deps, drain, clock } = setup({ keys, kms: true, shardKeys: 10 });
    const drHeads = () => world.log.filter((op) => op.bucket === 'dr-bucket' && op.op === 'head').length;
    const first = await startVerifyJob(request({ repair: false }), deps);
    await drain();
    expect(await verifyStatus(first.job, deps)).toMatchObject({ state: 'complete', counts: { ok: 40 } });
    expect(drHeads()).toBe(40);
    // Act: the next job over the same scope, cut into the same ranges.
    clock.advance(3_600_000);
    const second = await startVerifyJob(request({ repair: false }), deps);
    expect(second.job).not.toBe(first.job);
    await drain();
    expect(await verifyStatus(second.job, deps)).toMatchObject({ state: 'complete', counts: { ok: 40 } });
    expect(drHeads()).toBe(40);
  });

  it('expire the range state (cursor and ETag ledger) of ranges the scope no longer uses when the next job finishes; never its own, another scope’s, or a range under its run lease', async () => {
    const { world, deps, drain, clock } = setup({ keys, kms: true, shardKeys: 10 });
    const state = async () =>
      (await deps.dr.list({ prefix: '.s3dr/verify/source-bucket/', maxKeys: 1000 })).objects.map(
        (o) => o.key,
      );
    const rangesOf = async (id: string, prefix = '') => {
      const plan = await verifyStatus(id, deps);
      const shards = await Promise.all(
        Array.from({ length: plan.shards.planned }, (_, n) => readShard(deps.dr, id, n)),
      );
      return shards.map((s) => cursorKey('source-bucket', { prefix, deep: 0 }, s?.value.range ?? {}));
    };
    const under = (cursor: string, keys: string[]) =>
      keys.filter((k) => k === cursor || k.startsWith(cursor.replace(/\.json$/, '/')));
    // Job 1 over the bucket, and a job over another scope (prefix k/1), each leave their ranges' state.
    const first = await startVerifyJob(request({ repair: false }), deps);
    await drain();
    const other = await startVerifyJob(request({ repair: false, prefix: 'k/1' }), deps);
    await drain();
    const firstRanges = await rangesOf(first.job);
    const otherRanges = await rangesOf(other.job, 'k/1');
    const before = await state();
    for (const cursor of [...firstRanges, ...otherRanges]) expect(before).toContain(cursor);
    expect(before.some((k) => k.includes('/ledger/'))).toBe(true);
    // New keys at the front shift every boundary: the next job cuts other ranges (its last one, open
    // from the last key cut through, is the first job's too only by chance — here it is not).
    for (const key of ['a/1', 'a/2', 'a/3', 'a/4', 'a/5']) {
      const { etag } = world.bucket('source-bucket').put(key, `body of ${key}`);
      world.bucket('dr-bucket').put(DR_PREFIX + key, `body of ${key}`, {
        kms: true,
        metadata: { [META_SOURCE_ETAG]: etag },
      });
    }
    // One superseded range is being run right now (its run lease is held): it is left alone.
    const leased = firstRanges[1] as string;
    await deps.dr.putText(
      leaseKey({ name: 'verify', request: { cursor: leased } }),
      JSON.stringify({
        v: 1,
        function: 'verify',
        runId: 'another-run',
        startedAt: clock.now().toISOString(),
        expiresAt: new Date(clock.now().getTime() + 3_600_000).toISOString(),
        request: { cursor: leased },
      }),
    );
    clock.advance(60_000);

    const second = await startVerifyJob(request({ repair: false }), deps);
    await drain();

    expect(await verifyStatus(second.job, deps)).toMatchObject({ state: 'complete', counts: { ok: 45 } });
    const secondRanges = await rangesOf(second.job);
    const after = await state();
    for (const cursor of [...secondRanges, ...otherRanges, leased]) expect(after).toContain(cursor);
    const superseded = firstRanges.filter((c) => !secondRanges.includes(c) && c !== leased);
    expect(superseded.length).toBeGreaterThan(0);
    for (const cursor of superseded) expect(under(cursor, after)).toEqual([]);
    // The other scope's ledgers and the leased range's stay whole.
    for (const cursor of [...otherRanges, leased])
      expect(under(cursor, after)).toEqual(under(cursor, before));
  });

  it('repairs drift per shard: repair tasks for what is missing, the report says so', async () => {
    const { deps, tasks, drain } = setup({
      keys: ['a', 'b', 'c', 'd', 'e'],
      missing: ['b', 'e'],
      shardKeys: 2,
    });
    const started = await startVerifyJob(request(), deps);
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(tasks.map((t) => t.key).sort()).toEqual(['b', 'e']);
    expect(status).toMatchObject({ state: 'complete', shards: { planned: 3 } });
    expect(status.report).toMatchObject({ counts: { missing: 2, ok: 3 }, repairsQueued: 2 });
  });

  it('resume a shard killed mid-run from its last recorded position: nothing lost, nothing counted twice', async () => {
    const { world, deps, sent, tasks, deliver, drain } = setup({ ...scene, shardKeys: 100, budget: 8 });
    const started = await startVerifyJob(request(), deps);
    await deliver(sent.shift() as JobMessage);
    // Run 0 verifies a few keys, records where it stopped, and queues run 1.
    expect(await deliver(sent.shift() as JobMessage)).toBe('done');
    const run1 = sent.shift() as JobMessage;
    expect(run1).toMatchObject({ kind: 'shard', shard: 0, run: 1 });
    // Run 1 dies before it records anything (here: its cursor write fails, as a kill would leave it).
    world.beforeOp = async (op) => {
      if (op.op === 'putText' && op.key.includes('/range-') && !op.key.includes('/ledger/')) {
        world.beforeOp = undefined;
        throw new Error('the worker was killed here');
      }
    };
    await expect(deliver(run1, 1)).rejects.toThrow('the worker was killed here');
    // Its redelivery goes on from run 0's position; the job ends with every key counted once.
    expect(await deliver(run1, 2)).toBe('done');
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(status.state).toBe('complete');
    expect((status.report as VerifyReport).counts).toEqual({
      ok: 37,
      missing: 3,
      mismatched: 0,
      orphaned: 2,
      pending: 0,
      unreplicable: 0,
    });
    // Every drift found has its repair task (a repair repeated by the redone run is a hint replicate
    // checks against both buckets: docs/design.md, invariant 1).
    expect(new Set(tasks.map((t) => t.key))).toEqual(new Set(['k/03', 'k/17', 'k/31', 'k/99', 'z']));
  });

  it('answer an identical start with the running job, and start another for another request', async () => {
    const { deps, sent } = setup({ keys });
    const first = await startVerifyJob(request(), deps);
    const again = await startVerifyJob(request({ repair: true }), deps);
    expect(again).toMatchObject({ job: first.job, alreadyRunning: true });
    const other = await startVerifyJob(request({ prefix: 'k/1' }), deps);
    expect(other.job).not.toBe(first.job);
    expect(sent).toHaveLength(2);
  });

  it('refuse a start over the same scope with other options while a pass runs, naming the running job, writing nothing', async () => {
    const { world, deps, sent } = setup({ keys });
    const first = await startVerifyJob(request(), deps);
    const writes = () => world.log.filter((op) => op.op === 'putText' || op.op === 'putTextIf').length;
    const before = writes();
    await expect(startVerifyJob(request({ repair: false, graceSeconds: 0 }), deps)).rejects.toThrow(
      new RegExp(
        `^Verify refused: job ${first.job} runs over the same sources and prefix with other options`,
      ),
    );
    await expect(startVerifyJob(request({ repair: false }), deps)).rejects.toBeInstanceOf(JobConflictError);
    expect(writes()).toBe(before);
    expect(sent).toHaveLength(1);
  });

  it('answer two identical starts at once with one job; the loser’s record says it never ran', async () => {
    const { world, deps, sent, clock } = setup({ keys });
    // The first start is held just before it takes the request's job slot; the second takes it first.
    const slot = holdFirst(world, (op) => op.op === 'putTextIf' && op.key.includes('/active/'));
    const first = startVerifyJob(request(), deps);
    await slot.reached;
    clock.advance(5);
    const second = await startVerifyJob(request(), deps);
    slot.release();
    const answered = await first;
    expect(answered).toMatchObject({ job: second.job, alreadyRunning: true });
    expect(sent).toEqual([{ v: 1, kind: 'plan', job: second.job, step: 0 }]);
    const jobs = [...world.bucket('dr-bucket').objects.keys()].filter((k) => k.endsWith('/job.json'));
    expect(jobs).toHaveLength(2);
    const loser = jobs.find((k) => !k.includes(second.job)) as string;
    const id = loser.split('/')[2] as string;
    await expect(verifyStatus(id, deps)).resolves.toMatchObject({ state: 'cancelled' });
  });

  it('stop at a cancel before planning: the queued step does nothing, the report is written, a second cancel is refused', async () => {
    const { deps, sent, sourceLists, drain, clock } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    clock.advance(1000);
    const cancelled = await cancelVerifyJob(started.job, deps);
    expect(cancelled).toMatchObject({ state: 'cancelled', runs: 0 });
    expect(cancelled.report).toMatchObject({ pass: { complete: false } });
    expect(sent).toHaveLength(1);
    await drain();
    expect(sourceLists()).toBe(0);
    await expect(cancelVerifyJob(started.job, deps)).rejects.toThrow(JobFinishedError);
    // The request is free again: a new start is a new job.
    expect((await startVerifyJob(request(), deps)).job).not.toBe(started.job);
  });

  it('cancel mid-way: a shard run in progress is recorded, the others never run, and the report covers what ran', async () => {
    const { world, deps, sent, deliver, drain, sourceLists } = setup({ ...scene, shardKeys: 20 });
    const started = await startVerifyJob(request({ repair: false }), deps);
    await deliver(sent.shift() as JobMessage);
    const [first, ...others] = sent.splice(0);
    // Shard 0's run stops inside its source listing (a gate the test opens).
    const listing = holdFirst(world, sourceList);
    const running = deliver(first as JobMessage);
    await listing.reached;
    const listedBefore = sourceLists();

    // Act: cancel while shard 0 runs.
    const cancelled = await cancelVerifyJob(started.job, deps);
    expect(cancelled.state).toBe('cancelled');
    // No report yet: shard 0's run is not recorded.
    expect(cancelled.report).toBeUndefined();
    listing.release();
    expect(await running).toBe('done');
    sent.push(...others);
    await drain();

    // Assess: the report counts shard 0's keys (k/00–k/19: two missing), and nothing else ran.
    const status = await verifyStatus(started.job, deps);
    // Shard 0's run finished its range (done); the other two ended cancelled without a run.
    expect(status).toMatchObject({ state: 'cancelled', shards: { planned: 3, done: 1, cancelled: 2 } });
    const report = status.report as VerifyReport;
    expect(report.pass.complete).toBe(false);
    expect(report.counts).toMatchObject({ ok: 18, missing: 2, orphaned: 0 });
    expect(sourceLists()).toBe(listedBefore + 1);
  });

  it('refuse by name an unknown id, another stage’s job and a restore job’s id', async () => {
    const { deps } = setup({ keys });
    await expect(verifyStatus('nonsense', deps)).rejects.toThrow(UnknownJobError);
    await expect(verifyStatus('test.verify.20261201T100000000Z.0123456789ab', deps)).rejects.toThrow(
      UnknownJobError,
    );
    await expect(verifyStatus('prod.verify.20261201T100000000Z.0123456789ab', deps)).rejects.toThrow(
      OtherStageJobError,
    );
    await expect(verifyStatus('test.restore.20261201T100000000Z.0123456789ab', deps)).rejects.toThrow(
      OtherKindJobError,
    );
    await expect(cancelVerifyJob('test.restore.20261201T100000000Z.0123456789ab', deps)).rejects.toThrow(
      /is a restore job, not a verify job/,
    );
  });

  it('never run one range twice at once — a second delivery, or the next job over the scope while a cancelled job’s run is still in progress, meets the range’s lease (a conditional write, S3 User Guide) and is busy', async () => {
    const { world, deps, sent, deliver, sourceLists } = setup({ ...scene, shardKeys: 100 });
    const a = await startVerifyJob(request({ repair: false }), deps);
    for (const step of sent.splice(0)) await deliver(step);
    const [shardA] = sent.splice(0) as JobMessage[];
    // Job A's shard stops inside its first source listing (a gate the test opens).
    const listing = holdFirst(world, sourceList);
    const running = deliver(shardA as JobMessage, 1, 'worker-a');
    await listing.reached;
    expect(await deliver(shardA as JobMessage, 2, 'worker-b')).toBe('busy');
    // A is cancelled while its run goes on: the next job over the scope starts, on the same key range.
    await cancelVerifyJob(a.job, deps);
    const b = await startVerifyJob(request({ repair: true }), deps);
    expect(b.job).not.toBe(a.job);
    for (const step of sent.splice(0)) await deliver(step);
    const [shardB] = sent.splice(0) as JobMessage[];
    expect(shardB?.job).toBe(b.job);
    const listed = sourceLists();
    expect(await deliver(shardB as JobMessage, 1, 'worker-c')).toBe('busy');
    expect(sourceLists()).toBe(listed);
    listing.release();
    expect(await running).toBe('done');
    // A's redelivery, after A recorded the run: a no-op. B now runs (a new pass of the range).
    const afterA = sourceLists();
    expect(await deliver(shardA as JobMessage, 3, 'worker-b')).toBe('done');
    expect(sourceLists()).toBe(afterA);
    expect(await deliver(shardB as JobMessage, 2, 'worker-c')).toBe('done');
    expect(sourceLists()).toBeGreaterThan(afterA);
    expect((await verifyStatus(a.job, deps)).state).toBe('cancelled');
    expect((await verifyStatus(b.job, deps)).report).toMatchObject({ counts: { ok: 37, missing: 3 } });
  });

  it('re-queue a shard’s next run once when the worker that recorded a run died before queuing it', async () => {
    const { deps, sent, deliver, drain } = setup({ keys, budget: 10, shardKeys: 100 });
    const started = await startVerifyJob(request(), deps);
    await deliver(sent.shift() as JobMessage);
    const first = sent.shift() as JobMessage;
    // The job queue fails the send of run 1 (the worker dies there): run 0 is recorded, nothing queued.
    const send = deps.jobQueue.send;
    deps.jobQueue.send = async () => {
      throw new Error('the worker died here');
    };
    await expect(deliver(first, 1, 'worker-a')).rejects.toThrow('the worker died here');
    deps.jobQueue.send = send;
    expect(sent).toEqual([]);
    // Its redelivery queues run 1; another duplicate of run 0 queues nothing more.
    expect(await deliver(first, 2, 'worker-b')).toBe('done');
    expect(await deliver(first, 3, 'worker-c')).toBe('done');
    expect(sent).toEqual([{ v: 1, kind: 'shard', job: started.job, shard: 0, run: 1 }]);
    await drain();
    expect((await verifyStatus(started.job, deps)).state).toBe('complete');
  });

  it('fail a shard on its last try (maxReceiveCount, then the job DLQ), naming it; the job ends failed with the report of the others', async () => {
    const { world, deps, sent, deliver, drain } = setup({ ...scene, shardKeys: 20 });
    const started = await startVerifyJob(request({ repair: false }), deps);
    await deliver(sent.shift() as JobMessage);
    // Shard 1 (k/19, k/39] can never save its cursor.
    const cursor = cursorKey('source-bucket', { prefix: '', deep: 0 }, { after: 'k/19', through: 'k/39' });
    world.beforeOp = async (op) => {
      if (op.key === cursor && op.op === 'putText')
        throw new Error('AccessDenied: the cursor cannot be written');
    };
    const shard1 = shardsOf(sent).find((m) => m.kind === 'shard' && m.shard === 1) as JobMessage;
    sent.splice(sent.indexOf(shard1), 1);
    for (let receive = 1; receive <= 4; receive++)
      await expect(deliver(shard1, receive)).rejects.toThrow(/AccessDenied/);
    expect((await verifyStatus(started.job, deps)).state).toBe('running');
    await expect(deliver(shard1, 5)).rejects.toThrow(/AccessDenied/);
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(status).toMatchObject({ state: 'failed', shards: { planned: 3, done: 2, failed: 1 } });
    expect(status.failedShards).toEqual([
      {
        shard: 1,
        error: expect.stringMatching(
          /^shard 1 \(source-bucket, keys after "k\/19" through "k\/39"\) failed: .*AccessDenied.*after 5 tries; the message is in the job DLQ/,
        ),
      },
    ]);
    expect(status.report).toMatchObject({ pass: { complete: false } });
  });

  it('fail a shard still busy at its last try (maxReceiveCount, then the job DLQ: "Using dead-letter queues in Amazon SQS") instead of waiting for a message that is gone', async () => {
    const { deps, sent, deliver, drain } = setup({ keys, shardKeys: 100 });
    const started = await startVerifyJob(request(), deps);
    await deliver(sent.shift() as JobMessage);
    const first = sent.shift() as Extract<JobMessage, { kind: 'shard' }>;
    // Run 1 of the shard delivered while its run 0 is not recorded: busy at every try.
    const early: JobMessage = { ...first, run: 1 };
    for (const receiveCount of [1, 2, 3, 4]) expect(await deliver(early, receiveCount)).toBe('busy');
    expect((await verifyStatus(started.job, deps)).state).toBe('running');
    await expect(deliver(early, 5)).rejects.toThrow(
      /another delivery held shard 0 .* at each of its 5 tries/,
    );
    await deliver(first);
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(status.state).toBe('failed');
    expect(status.failedShards).toEqual([
      { shard: 0, error: expect.stringMatching(/ShardBusyError: another delivery held shard 0/) },
    ]);
  });

  it('fail the job when planning fails its last try, saying why', async () => {
    const { deps, sent, deliver } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    deps.sourceStore = () => undefined;
    await expect(deliver(sent.shift() as JobMessage, 5)).rejects.toThrow(/not a configured source/);
    const status = await verifyStatus(started.job, deps);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/planning failed: .*after 5 tries; the message is in the job DLQ/);
    expect(status.report).toBeDefined();
  });
});
