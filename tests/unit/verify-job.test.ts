/**
 * Verify jobs over the in-memory S3 (tests/helpers/memory-store.ts): a job is a chain of time-boxed
 * verify runs on the job queue, each resuming the pass from the cursor in DR. A test runs the queued
 * messages itself, one invocation each, and decides when an invocation's deadline comes.
 *
 * What SQS and S3 do that these tests stand in for:
 * - a message whose handling fails (here: throws, or answers `busy`, which lib/jobs/batch.ts throws) is
 *   not deleted and "will again reappear in the queue" after the visibility timeout ("Handling errors for
 *   an SQS event source in Lambda", AWS Lambda Developer Guide): the test delivers it again by hand, with
 *   a higher receive count; a message is delivered at least once, so duplicates are delivered here too;
 * - of two conditional writes of one key (`If-None-Match: *`, `If-Match`), one succeeds and the other
 *   gets 412 ("How to prevent object overwrites with conditional writes", Amazon S3 User Guide): the
 *   memory store answers so (the emulator's answers are held to S3's in
 *   tests/integration/emulator-conditional-writes.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import {
  JobFinishedError,
  OtherKindJobError,
  OtherStageJobError,
  UnknownJobError,
} from '../../lib/core/errors.ts';
import { drPrefixFor } from '../../lib/core/key-mapping.ts';
import type { Clock } from '../../lib/core/ports.ts';
import type { Task } from '../../lib/core/task.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import {
  cancelVerifyJob,
  type RunMessage,
  runVerifyMessage,
  startVerifyJob,
  type VerifyJobDeps,
  verifyStatus,
} from '../../lib/verify/job.ts';
import { parseVerifyRequest } from '../../lib/verify/payload.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { verifySources } from '../../lib/verify/run.ts';
import { delivery, jobWorker } from '../helpers/job-worker.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
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
 * A source bucket of `keys`, all replicated except `missing`, plus `orphans` only in DR. Invocations
 * have `budget` looks at the clock each before their deadline (about one per key): a deadline measured
 * in progress, not wall time.
 */
function setup(opts: { keys: string[]; missing?: string[]; orphans?: string[]; budget?: number }) {
  const world = new MemoryWorld();
  const source = world.bucket('source-bucket');
  const dr = world.bucket('dr-bucket', { versioned: true });
  for (const key of opts.keys) {
    source.put(key, `body of ${key}`);
    if (!opts.missing?.includes(key)) dr.put(DR_PREFIX + key, `body of ${key}`);
  }
  for (const key of opts.orphans ?? []) dr.put(DR_PREFIX + key, 'gone');
  const sent: JobMessage[] = [];
  const tasks: Task[] = [];
  const metrics: { name: string; value: number }[] = [];
  let left = Number.POSITIVE_INFINITY;
  let now = Date.parse('2026-12-01T10:00:00Z');
  const clock: Clock & { invocation(): void; advance(ms: number): void } = {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    remainingMs: () => (left-- > 0 ? 900_000 : 0),
    invocation: () => {
      left = opts.budget ?? Number.POSITIVE_INFINITY;
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
  };
  /** Runs every queued message, each as one invocation, until the queue is empty. */
  const drain = async () => {
    let runs = 0;
    for (let message = sent.shift(); message; message = sent.shift()) {
      clock.invocation();
      expect(await runVerifyMessage(message as RunMessage, 1, `worker-${runs}`, deps)).toBe('done');
      runs += 1;
    }
    return runs;
  };
  const sourceLists = () =>
    world.log.filter((op) => op.bucket === 'source-bucket' && op.op === 'list').length;
  return { world, deps, sent, tasks, metrics, clock, drain, sourceLists };
}

const request = (payload: unknown = {}) => parseVerifyRequest(payload, settings);
const keys = Array.from({ length: 40 }, (_, i) => `k/${String(i).padStart(2, '0')}`);

describe('verify jobs', () => {
  it('answer a start at once with the job, verifying nothing until the job worker runs it', async () => {
    const { deps, sent, sourceLists } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    expect(started).toMatchObject({ kind: 'verify', state: 'running', runs: 0 });
    expect(started.job).toMatch(/^test\.verify\./);
    expect(sent).toEqual([{ v: 1, kind: 'run', job: started.job, run: 0 }]);
    expect(sourceLists()).toBe(0);
  });

  it('run a pass as a chain of time-boxed runs to the same counts a direct verify gives', async () => {
    // Prepare: 40 keys, 3 missing in DR, 2 orphans; each invocation has time for about 10 keys.
    const scene = { keys, missing: ['k/03', 'k/17', 'k/31'], orphans: ['k/99', 'z'] };
    const direct = setup(scene);
    const directReport: VerifyReport = await verifySources(request({ repair: false }), direct.deps);
    const { deps, metrics, drain } = setup({ ...scene, budget: 10 });

    // Act
    const started = await startVerifyJob(request({ repair: false }), deps);
    const runs = await drain();
    const status = await verifyStatus(started.job, deps);

    // Assess: several runs, one pass, its totals those of the one unbounded run.
    expect(directReport.pass.complete).toBe(true);
    expect(runs).toBeGreaterThan(2);
    expect(status).toMatchObject({ state: 'complete', runs, etaSeconds: 0 });
    const report = status.report as VerifyReport;
    expect(report.counts).toEqual(directReport.counts);
    expect(report.counts).toMatchObject({ ok: 37, missing: 3, orphaned: 2 });
    expect(report.pass.complete).toBe(true);
    expect(status.counts).toMatchObject({ ok: 37, missing: 3, orphaned: 2, mismatched: 0 });
    expect(status.progress.objects).toBe(42);
    // Each run published VerifyPassComplete (the "verifier silent" alarm's heartbeat): 1 only for the last.
    const heartbeats = metrics.filter((m) => m.name === 'VerifyPassComplete').map((m) => m.value);
    expect(heartbeats).toEqual([...Array(runs - 1).fill(0), 1]);
    // And job progress, which the "job stalled" alarm watches, as restore shards report theirs.
    const examined = metrics.filter((m) => m.name === 'JobObjectsExamined').map((m) => m.value);
    expect(examined).toHaveLength(runs);
    expect(examined.reduce((a, b) => a + b, 0)).toBe(42);
  });

  it('repairs drift through the job: repair tasks for what is missing, the report says so', async () => {
    const { deps, tasks, drain } = setup({ keys: ['a', 'b', 'c'], missing: ['b'] });
    const started = await startVerifyJob(request(), deps);
    await drain();
    const status = await verifyStatus(started.job, deps);
    expect(tasks.map((t) => t.key)).toEqual(['b']);
    expect(status.state).toBe('complete');
    expect(status.report).toMatchObject({ counts: { missing: 1, ok: 2 }, repairsQueued: 1 });
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

  it('answer two identical starts at once with one job; the loser’s record says it never ran', async () => {
    const { world, deps, sent, clock } = setup({ keys });
    // The first start is held just before it takes the request's job slot; the second takes it first.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const atSlot = new Promise<void>((resolve) => {
      reached = resolve;
    });
    world.beforeOp = async (op) => {
      if (op.op === 'putTextIf' && op.key.includes('/active/')) {
        world.beforeOp = undefined;
        reached();
        await held;
      }
    };
    const first = startVerifyJob(request(), deps);
    await atSlot;
    clock.advance(5);
    const second = await startVerifyJob(request(), deps);
    release();
    const answered = await first;
    expect(answered).toMatchObject({ job: second.job, alreadyRunning: true });
    expect(sent).toEqual([{ v: 1, kind: 'run', job: second.job, run: 0 }]);
    const jobs = [...world.bucket('dr-bucket').objects.keys()].filter((k) => k.endsWith('/job.json'));
    expect(jobs).toHaveLength(2);
    const loser = jobs.find((k) => !k.includes(second.job)) as string;
    const id = loser.split('/')[2] as string;
    await expect(verifyStatus(id, deps)).resolves.toMatchObject({ state: 'cancelled' });
  });

  it('stop at a cancel: a queued run does nothing, the report is written, a second cancel is refused', async () => {
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

  it('never run two verify runs of one job at once: a second delivery meets the run lease (a conditional write, S3 User Guide) and is busy', async () => {
    const { world, deps, sent, sourceLists } = setup({ keys });
    await startVerifyJob(request(), deps);
    const message = sent.shift() as RunMessage;
    // Worker A stops inside its first source listing (a gate the test opens).
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let paused!: () => void;
    const inside = new Promise<void>((resolve) => {
      paused = resolve;
    });
    world.beforeOp = async (op) => {
      if (op.bucket === 'source-bucket' && op.op === 'list') {
        world.beforeOp = undefined;
        paused();
        await gate;
      }
    };
    const a = runVerifyMessage(message, 1, 'worker-a', deps);
    await inside;
    // (A's listing is logged once it passes the gate.)
    expect(await runVerifyMessage(message, 2, 'worker-b', deps)).toBe('busy');
    expect(sourceLists()).toBe(0);
    open();
    expect(await a).toBe('done');
    const listed = sourceLists();
    expect(listed).toBeGreaterThan(0);
    // B's redelivery, after A recorded the run: a no-op (A queued the next run; B queues nothing).
    const before = sent.length;
    expect(await runVerifyMessage(message, 3, 'worker-b', deps)).toBe('done');
    expect(sourceLists()).toBe(listed);
    expect(sent.length).toBe(before);
  });

  it('re-queue the next run once when the worker that recorded a run died before queuing it', async () => {
    const { deps, sent, clock, drain } = setup({ keys, budget: 10 });
    const started = await startVerifyJob(request(), deps);
    const first = sent.shift() as RunMessage;
    // The job queue fails the send of run 1 (the worker dies there): run 0 is recorded, nothing queued.
    const send = deps.jobQueue.send;
    deps.jobQueue.send = async () => {
      throw new Error('the worker died here');
    };
    clock.invocation();
    await expect(runVerifyMessage(first, 1, 'worker-a', deps)).rejects.toThrow('the worker died here');
    deps.jobQueue.send = send;
    expect(sent).toEqual([]);
    // Its redelivery queues run 1; another duplicate of run 0 queues nothing more.
    expect(await runVerifyMessage(first, 2, 'worker-b', deps)).toBe('done');
    expect(await runVerifyMessage(first, 3, 'worker-c', deps)).toBe('done');
    expect(sent).toEqual([{ v: 1, kind: 'run', job: started.job, run: 1 }]);
    await drain();
    expect((await verifyStatus(started.job, deps)).state).toBe('complete');
  });

  it('fail when a run is still busy at its last try (maxReceiveCount, then the job DLQ: "Using dead-letter queues in Amazon SQS"), instead of waiting for a message that is gone', async () => {
    const { deps, sent } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    sent.length = 0;
    // Run 1 delivered while run 0 is not recorded: busy at every try.
    const early: RunMessage = { v: 1, kind: 'run', job: started.job, run: 1 };
    for (const receiveCount of [1, 2, 3, 4]) {
      await expect(jobWorker({ verify: deps })(delivery(early, receiveCount))).rejects.toThrow(
        /another delivery/,
      );
      expect((await verifyStatus(started.job, deps)).state).not.toBe('failed');
    }
    await expect(jobWorker({ verify: deps })(delivery(early, 5))).rejects.toThrow(/another delivery/);
    const status = await verifyStatus(started.job, deps);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(
      /run 1 failed: ShardBusyError: another delivery held run 1 .* at each of its 5 tries/,
    );
  });

  it('fail on the last try of a run (maxReceiveCount, then the job DLQ: "Handling errors for an SQS event source in Lambda"), saying why, with the report of what the runs found', async () => {
    const { deps, sent } = setup({ keys });
    const started = await startVerifyJob(request(), deps);
    const message = sent.shift() as RunMessage;
    deps.sourceStore = () => undefined; // every run fails
    // As the job worker hands it over (lib/jobs/batch.ts): its 5th receive is the queue's maxReceiveCount.
    await expect(jobWorker({ verify: deps })(delivery(message, 5))).rejects.toThrow(
      /not a configured source/,
    );
    const status = await verifyStatus(started.job, deps);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/run 0 failed: .*after 5 tries; the message is in the job DLQ/);
    expect(status.report).toBeDefined();
  });
});
