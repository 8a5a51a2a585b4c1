/**
 * Restore as a job (docs/design.md, invariant 8). `startRestoreJob` validates and records the request and
 * queues its first planning step, then answers at once; the job worker plans the key space into shards
 * of `jobShardKeys` keys each (reading the DR listing in steps that each fit in one invocation) and runs
 * every shard with {@link restoreObjects} — the synchronous restore, bounded to the shard's key range and
 * checkpointed every chunk — so a worker killed mid-shard, a redelivered message or a throttle resumes
 * from the shard's cursor; what a repeat meets again is already identical in the target and is skipped,
 * not copied twice.
 */
import { describeError, ShardFailedError } from '../core/errors.ts';
import { compareKeys } from '../core/key-order.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { Clock } from '../core/ports.ts';
import type { JobMessageHandler } from '../jobs/batch.ts';
import {
  cancelJobOf,
  failActiveJob,
  finishShardedJob,
  type JobKindOps,
  type JobLifecycleDeps,
  jobStatusOf,
  startJob,
} from '../jobs/lifecycle.ts';
import type {
  JobMessage,
  JobQueue,
  JobRecord,
  JobState,
  JobStatus,
  PlanProgress,
  ShardState,
} from '../jobs/model.ts';
import { readShardOfJob } from '../jobs/shard-reader.ts';
import { JobStore } from '../jobs/store.ts';
import { decodeCursor, encodeCursor, requestFingerprint } from './cursor.ts';
import {
  assertTargetListable,
  type RestoreDeps,
  type RestoreReport,
  restoreObjects,
  summariseRestore,
} from './objects.ts';
import { InvalidRestorePayloadError, type RestorePayload, restorePayloadSchema } from './payload.ts';
import {
  prefixCandidates,
  RESTORE_ACTIONS,
  type ResolvedRestore,
  resolveRestore,
  selectVersion,
} from './plan.ts';
import type { Tally } from './tally.ts';

export interface RestoreJobDeps extends RestoreDeps {
  queue: JobQueue;
  stage: string;
  /** Keys per shard, and tries of a job message before it moves to the job DLQ (the queue's maxReceiveCount). */
  shardKeys: number;
  maxReceiveCount: number;
  /** Keys a shard restores between checkpoints (default 1,000). */
  chunkKeys?: number;
}

/** Keys a shard hands to restoreObjects at a time: the checkpoint interval. */
const CHUNK_KEYS = 1000;
/** Shard messages a planning step sends at most; the next step goes on from there. */
const SHARDS_PER_STEP = 500;
/** A start that finds its job still planning after this long without a plan re-sends the first step. */
const PLAN_STALL_MS = 60_000;
const SAMPLE_SIZE = 10;
const DETAIL_LIMIT = 20;

const emptyTally = (): Tally => ({ objects: 0, bytes: 0, sample: [] });

function addTally(into: Tally, from: Tally): void {
  into.objects += from.objects;
  into.bytes += from.bytes;
  for (const key of from.sample) if (into.sample.length < SAMPLE_SIZE) into.sample.push(key);
}

/** The request a job runs: the payload after validation and defaults, its source named, keys in order. */
function normalizedRequest(payload: RestorePayload, source: string): RestorePayload {
  return {
    ...payload,
    source,
    ...(payload.keys ? { keys: [...new Set(payload.keys)].sort(compareKeys) } : {}),
    ...(payload.asOf ? { asOf: new Date(payload.asOf).toISOString() } : {}),
  };
}

function requestOf(job: JobRecord): RestorePayload {
  return restorePayloadSchema.parse(job.request);
}

/**
 * Starts a restore job, or answers with the identical job already running (a client's re-sent invoke
 * lands here). Checks everything a synchronous restore checks first — payload, allow-list, that the
 * target can be listed — so a refused request writes nothing.
 *
 * @throws InvalidRestorePayloadError for `cursor` / `maxObjects` (a job pages itself), RestoreRefusedError,
 *   JobConflictError when the identical request runs with the other `dryRun`.
 */
export async function startRestoreJob(payload: RestorePayload, deps: RestoreJobDeps): Promise<JobStatus> {
  if (payload.cursor !== undefined || payload.maxObjects !== undefined) {
    throw new InvalidRestorePayloadError(
      `Invalid restore payload: ${payload.cursor !== undefined ? 'cursor' : 'maxObjects'}: a restore runs as a job that pages and resumes by itself; leave it out and poll the job with {"job": "<id>"}`,
    );
  }
  const resolved = resolveRestore(payload, deps.settings);
  await assertTargetListable(deps.storeFor(resolved.target.bucket, resolved.target.region), resolved);
  const request = normalizedRequest(payload, resolved.source);
  return startJob(
    {
      request: request as unknown as Record<string, unknown>,
      dryRun: request.dryRun,
      context: async () => ({
        from: {
          bucket: deps.settings.drBucket,
          region: deps.settings.drRegion,
          versioned: (await deps.dr.versioning()) !== 'unversioned',
        },
        target: resolved.target,
      }),
      first: (id) => [{ v: 1, kind: 'plan', job: id, step: 0 }],
      onRunning: (status, store) => resendStalledPlan(status, store, deps),
    },
    restoreOps(deps),
    lifecycleDeps(deps),
  );
}

/** The shared job lifecycle (lib/jobs/lifecycle.ts) with what is restore's own. */
function restoreOps(deps: RestoreJobDeps): JobKindOps {
  return {
    kind: 'restore',
    status: (job, store) => computeStatus(job, store, deps.clock),
    finishIfDone: (id) => finishIfDone(id, deps),
  };
}

const lifecycleDeps = (deps: RestoreJobDeps): JobLifecycleDeps => ({ ...deps, jobQueue: deps.queue });

/** A job whose first planning step was lost (a start that died after recording it) gets it again. */
async function resendStalledPlan(status: JobStatus, store: JobStore, deps: RestoreJobDeps): Promise<void> {
  if (status.state !== 'planning') return;
  if (deps.clock.now().getTime() - Date.parse(status.createdAt) < PLAN_STALL_MS) return;
  if (await store.plan(status.job)) return;
  await deps.queue.send([{ v: 1, kind: 'plan', job: status.job, step: 0 }]);
}

/**
 * The status of a restore job: its state, counts so far, rate and ETA, and — once it is finished — its
 * final report.
 *
 * @throws UnknownJobError, OtherStageJobError, OtherKindJobError.
 */
export function jobStatus(id: string, deps: RestoreJobDeps): Promise<JobStatus> {
  return jobStatusOf(id, restoreOps(deps), deps);
}

/**
 * Cancels a restore job: workers stop at their next checkpoint and finish their shards as cancelled;
 * what was restored stays restored.
 *
 * @throws JobFinishedError for a job that is already complete, failed or cancelled.
 */
export function cancelJob(id: string, deps: RestoreJobDeps): Promise<JobStatus> {
  return cancelJobOf(id, restoreOps(deps), lifecycleDeps(deps));
}

async function readShards(id: string, count: number, store: JobStore): Promise<ShardState[]> {
  const shards = await mapConcurrent(
    Array.from({ length: count }, (_, n) => n),
    16,
    (n) => store.shard(id, n),
  );
  return shards.flatMap((s) => (s ? [s.value] : []));
}

/** The shards' counts summed: what a job's status and final report are made of. */
interface ShardTotals {
  examined: number;
  plan: Record<string, Tally>;
  results: { restored: Tally; thawing: Tally; failed: Tally };
  failures: { key: string; error: string }[];
  thawing: Record<string, unknown>[];
  warnings: Set<string>;
  failedShards: { shard: number; error: string }[];
  count: { done: number; failed: number; cancelled: number };
}

function sumShards(shards: readonly ShardState[]): ShardTotals {
  const totals: ShardTotals = {
    examined: 0,
    plan: Object.fromEntries(RESTORE_ACTIONS.map((a) => [a, emptyTally()])) as Record<string, Tally>,
    results: { restored: emptyTally(), thawing: emptyTally(), failed: emptyTally() },
    failures: [],
    thawing: [],
    warnings: new Set<string>(),
    failedShards: [],
    count: { done: 0, failed: 0, cancelled: 0 },
  };
  const { plan, results, failures, thawing, warnings, failedShards, count } = totals;
  for (const s of shards) {
    totals.examined += s.examined;
    for (const [action, t] of Object.entries(s.plan)) if (plan[action]) addTally(plan[action], t);
    addTally(results.restored, s.results.restored);
    addTally(results.thawing, s.results.thawing);
    addTally(results.failed, s.results.failed);
    for (const f of s.failures) if (failures.length < DETAIL_LIMIT) failures.push(f);
    for (const t of s.thawing) if (thawing.length < DETAIL_LIMIT) thawing.push(t);
    for (const w of s.warnings) warnings.add(w);
    if (s.state === 'done') count.done += 1;
    if (s.state === 'cancelled') count.cancelled += 1;
    if (s.state === 'failed') {
      count.failed += 1;
      if (failedShards.length < DETAIL_LIMIT)
        failedShards.push({ shard: s.shard, error: s.error ?? 'failed' });
    }
  }
  return totals;
}

/** A job's state: as recorded when it failed or was cancelled as a whole, otherwise from its shards. */
function jobState(job: JobRecord, plan: PlanProgress | undefined, count: ShardTotals['count']): JobState {
  const finished = count.done + count.failed + count.cancelled;
  if (job.state === 'failed') return 'failed';
  if (job.state === 'cancelled') return 'cancelled';
  if (!plan?.done) return 'planning';
  if (finished < (plan?.shards ?? 0)) return 'running';
  return count.failed > 0 ? 'failed' : 'complete';
}

async function computeStatus(job: JobRecord, store: JobStore, clock: Clock): Promise<JobStatus> {
  const plan = (await store.plan(job.id))?.value;
  const shards = plan ? await readShards(job.id, plan.shards, store) : [];
  const request = requestOf(job);
  const totals = sumShards(shards);
  const { examined, count } = totals;
  let bytesDone = 0;
  for (const t of Object.values(totals.plan)) bytesDone += t.bytes;
  const finished = count.done + count.failed + count.cancelled;
  const planned = plan?.shards ?? 0;
  const state = jobState(job, plan, count);

  const seconds = Math.max(0.001, (clock.now().getTime() - Date.parse(job.createdAt)) / 1000);
  const rate = examined / seconds;
  const objectsPlanned = plan?.objects ?? 0;
  const etaSeconds =
    state === 'complete' ? 0 : plan?.done && rate > 0 ? Math.round((objectsPlanned - examined) / rate) : null;
  const counts: Record<string, number> = Object.fromEntries(
    Object.entries(totals.plan).map(([a, t]) => [a, t.objects]),
  );
  if (!job.dryRun) {
    counts.restored = totals.results.restored.objects;
    counts.thawing = totals.results.thawing.objects;
    counts.failed = totals.results.failed.objects;
  }
  const report = finalReport(job, request, totals, state, seconds);
  const pct = objectsPlanned > 0 ? ` (${Math.floor((100 * examined) / objectsPlanned)} %)` : '';
  const summary =
    report && state === 'complete'
      ? `job ${job.id} complete: ${report.summary}`
      : `restore job ${job.id} ${state}${job.dryRun ? ' (dry run)' : ''}: ${examined}/${objectsPlanned}${plan?.done ? '' : '+'} object(s)${pct}, shards ${finished}/${planned}${plan?.done ? '' : '+'}${count.failed ? `, ${count.failed} FAILED` : ''}, ${rate.toFixed(0)} objects/s${etaSeconds !== null && state === 'running' ? `, ETA ${etaSeconds} s` : ''}`;
  return {
    job: job.id,
    kind: job.kind,
    state,
    dryRun: job.dryRun,
    createdAt: job.createdAt,
    planning: { done: plan?.done ?? false, shards: planned },
    shards: { planned, ...count },
    progress: { objects: examined, bytes: bytesDone, objectsPlanned, bytesPlanned: plan?.bytes ?? 0 },
    counts,
    rate: Number(rate.toFixed(1)),
    etaSeconds,
    failedShards: totals.failedShards,
    ...(job.error ? { error: job.error } : {}),
    ...(report ? { report } : {}),
    summary,
  };
}

/** A finished job's report: the synchronous restore's report, summed over its shards; undefined before. */
function finalReport(
  job: JobRecord,
  request: RestorePayload,
  totals: ShardTotals,
  state: JobState,
  seconds: number,
): RestoreReport | undefined {
  if (state !== 'complete' && state !== 'failed' && state !== 'cancelled') return undefined;
  const context = job.context as Pick<RestoreReport, 'from' | 'target'>;
  const report: RestoreReport = {
    dryRun: job.dryRun,
    source: request.source ?? '',
    scope: request.keys ? { keys: request.keys.length } : { prefix: request.prefix ?? '' },
    asOf: request.asOf ?? null,
    includeDeleted: request.includeDeleted,
    overwrite: request.overwrite,
    from: context.from,
    target: context.target,
    examined: totals.examined,
    plan: totals.plan as RestoreReport['plan'],
    ...(job.dryRun ? {} : { results: totals.results }),
    thawing: totals.thawing as unknown as RestoreReport['thawing'],
    failures: [
      ...totals.failures,
      ...totals.failedShards.map((f) => ({ key: `(shard ${f.shard})`, error: f.error })),
    ].slice(0, DETAIL_LIMIT),
    complete: state === 'complete',
    ...(state === 'complete' ? {} : { stoppedBy: 'failures' as const }),
    warnings: [...totals.warnings],
    durationMs: Math.round(seconds * 1000),
    summary: '',
  };
  report.summary = summariseRestore(report);
  return report;
}

/**
 * Writes the final report once every planned shard is finished (or the job was cancelled or failed as
 * a whole); from then on a status request reads it back. Called by whichever worker finishes a shard:
 * each marks its shard done before counting, so the last one to finish always sees all of them.
 */
async function finishIfDone(id: string, deps: RestoreJobDeps): Promise<void> {
  const store = new JobStore(deps.dr);
  // The plan is read alongside the job, not after it: a plan read early and not yet done only defers
  // the finish to the planning step, which calls this itself once it records the plan done.
  const plan = store.plan(id);
  plan.catch(() => undefined); // read when the job exists; its error surfaces there, not unhandled
  await finishShardedJob(
    id,
    store,
    async () => (await plan)?.value,
    (job) => computeStatus(job, store, deps.clock),
    deps.logger,
  );
}

/** The job-queue messages of restore jobs: planning steps and shards. */
export type RestoreMessage = Extract<JobMessage, { kind: 'plan' | 'shard' }>;

/**
 * How the job worker runs restore's job messages (lib/jobs/batch.ts): a planning step or a shard, and —
 * at a message's last try — the failure recorded on the job.
 */
export function restoreMessageHandler(
  runId: string,
  deps: RestoreJobDeps,
): JobMessageHandler<RestoreMessage> {
  return {
    run: (message, receiveCount) => runJobMessage(message, receiveCount, runId, deps),
    onLastFailure: (message, error) => recordLastFailure(message, error, deps),
  };
}

/** Handles one planning step or shard; throws (or answers `busy`) to have SQS deliver it again. */
export async function runJobMessage(
  message: RestoreMessage,
  _receiveCount: number,
  runId: string,
  deps: RestoreJobDeps,
): Promise<'done' | 'busy'> {
  if (message.kind === 'plan') return planStep(message.job, message.step, deps);
  return runShard(message.job, message.shard, runId, deps);
}

/**
 * The try that sends a message to the job DLQ records why, so the job reports it: a planning step fails
 * the job; a shard is recorded failed, and the job ends failed naming it once the other shards finish.
 */
async function recordLastFailure(
  message: RestoreMessage,
  error: unknown,
  deps: RestoreJobDeps,
): Promise<void> {
  const store = new JobStore(deps.dr);
  const { name, message: text } = describeError(error);
  const reason = `${name}: ${text} (after ${deps.maxReceiveCount} tries; the message is in the job DLQ)`;
  if (message.kind === 'plan') {
    await failActiveJob(store, message.job, `planning failed: ${reason}`, deps.clock.now());
  } else {
    const shard = await store.shard(message.job, message.shard);
    if (shard) {
      const { lease: _lease, ...rest } = shard.value;
      await store.putShard(message.job, {
        ...rest,
        state: 'failed',
        error: reason,
        updatedAt: deps.clock.now().toISOString(),
      });
      await store.markDone(message.job, message.shard);
    }
  }
  await finishIfDone(message.job, deps);
}

function newShard(
  n: number,
  scope: ShardState['scope'],
  objects: number,
  bytes: number,
  now: Date,
): ShardState {
  return {
    v: 1,
    shard: n,
    scope,
    objects,
    bytes,
    state: 'pending',
    attempts: 0,
    examined: 0,
    plan: {},
    results: { restored: emptyTally(), thawing: emptyTally(), failed: emptyTally() },
    failures: [],
    thawing: [],
    warnings: [],
    updatedAt: now.toISOString(),
  };
}

/** What planning has cut so far: shards, the keys and bytes in them, and the last key cut through. */
interface PlanCut {
  /** The shards this step cut. */
  cut: ShardState[];
  after: string | undefined;
  objects: number;
  bytes: number;
  /** Every key of the request is in a shard. */
  done: boolean;
}

/**
 * One planning step: reads the DR listing from where the last step stopped, cuts it into shards of
 * `shardKeys` keys, records them, queues them, and queues the next step — until the listing ends or
 * the invocation's time is nearly up. The step number makes a redelivered step a no-op.
 */
async function planStep(id: string, step: number, deps: RestoreJobDeps): Promise<'done'> {
  const store = new JobStore(deps.dr);
  const job = await store.job(id);
  if (job?.value.state !== 'active') {
    if (job) await finishIfDone(id, deps);
    return 'done';
  }
  const previous = await store.plan(id);
  if ((previous?.value.step ?? 0) !== step || previous?.value.done) return 'done';
  const request = requestOf(job.value);
  const resolved = resolveRestore(request, deps.settings);
  const now = deps.clock.now();
  const first = previous?.value.shards ?? 0;
  const sofar: Omit<PlanCut, 'cut' | 'done'> = {
    after: previous?.value.after,
    objects: previous?.value.objects ?? 0,
    bytes: previous?.value.bytes ?? 0,
  };
  const { cut, after, objects, bytes, done } = request.keys
    ? cutKeyShards(request.keys, first, sofar, deps.shardKeys, now)
    : await cutListedShards(request, resolved, first, sofar, deps, now);

  // Shards first, then their messages, then the step: a step that dies half-way is redone whole, and
  // the shards it already recorded are kept as they are (If-None-Match).
  await mapConcurrent(cut, 16, (s) => store.putShard(id, s, { ifNoneMatch: '*' }));
  await deps.queue.send(cut.map((s) => ({ v: 1, kind: 'shard', job: id, shard: s.shard })));
  const progress = {
    v: 1 as const,
    step: step + 1,
    ...(after !== undefined ? { after } : {}),
    shards: first + cut.length,
    objects,
    bytes,
    done,
  };
  const advanced = await store.putPlan(
    id,
    progress,
    previous ? { ifMatch: previous.etag } : { ifNoneMatch: '*' },
  );
  if (!advanced) return 'done'; // a duplicate of this step got there first; it queues what follows
  if (!done) await deps.queue.send([{ v: 1, kind: 'plan', job: id, step: step + 1 }]);
  else await finishIfDone(id, deps);
  return 'done';
}

/** A request for named keys is cut in one step, `shardKeys` keys (in key order) to a shard. */
function cutKeyShards(
  keys: readonly string[],
  first: number,
  sofar: Omit<PlanCut, 'cut' | 'done'>,
  shardKeys: number,
  now: Date,
): PlanCut {
  const cut: ShardState[] = [];
  for (let i = 0; i < keys.length; i += shardKeys) {
    const part = keys.slice(i, i + shardKeys);
    cut.push(newShard(first + cut.length, { keys: part }, part.length, 0, now));
  }
  return { ...sofar, cut, objects: keys.length, done: true };
}

/**
 * A prefix request is cut from the DR listing, read on from the last key cut through: a shard each
 * `shardKeys` keys, until the listing ends (the rest is the last shard), the invocation's time is
 * nearly up or the step has cut {@link SHARDS_PER_STEP} shards.
 */
async function cutListedShards(
  request: RestorePayload,
  resolved: ResolvedRestore,
  first: number,
  sofar: Omit<PlanCut, 'cut' | 'done'>,
  deps: RestoreJobDeps,
  now: Date,
): Promise<PlanCut> {
  const asOf = request.asOf ? new Date(request.asOf) : undefined;
  const versioned = (await deps.dr.versioning()) !== 'unversioned';
  let { after, objects, bytes } = sofar;
  const candidates = prefixCandidates(
    deps.dr,
    resolved,
    request.prefix ?? '',
    deps.settings,
    versioned,
    after,
  );
  const cut: ShardState[] = [];
  let count = 0;
  let size = 0;
  let last: string | undefined;
  const stopSoon = () =>
    deps.clock.remainingMs() < deps.settings.safetyMarginMs * 2 || cut.length >= SHARDS_PER_STEP;
  /** Cuts the keys counted since the last shard into one, ending at `through`. */
  const cutThrough = (through: string) => {
    cut.push(
      newShard(first + cut.length, { ...(after !== undefined ? { after } : {}), through }, count, size, now),
    );
    objects += count;
    bytes += size;
    after = through;
    count = 0;
    size = 0;
  };
  for await (const c of candidates) {
    const selected = selectVersion(c.versions ?? [], asOf);
    count += 1;
    size += selected.kind === 'version' ? (selected.version.size ?? 0) : 0;
    last = c.key;
    if (count >= deps.shardKeys) {
      cutThrough(last);
      if (stopSoon()) return { cut, after, objects, bytes, done: false };
    }
  }
  if (count > 0 && last !== undefined) cutThrough(last);
  return { cut, after, objects, bytes, done: true };
}

/**
 * Runs one shard: claims it (a lease until this invocation's deadline, taken with If-Match so two
 * deliveries of one message never run it at once), then restores its keys a chunk at a time from its
 * cursor, checkpointing after each chunk and stopping at a cancel. Near the deadline it checkpoints and
 * queues itself again, so a long shard needs no redelivery and spends none of its tries.
 */
async function runShard(
  id: string,
  n: number,
  runId: string,
  deps: RestoreJobDeps,
): Promise<'done' | 'busy'> {
  const store = new JobStore(deps.dr);
  const read = await readShardOfJob(id, n, {
    store,
    readShard: (job, shard) => store.shard(job, shard),
    logger: deps.logger,
  });
  if (!read) return 'done';
  const { job, shard: stored } = read;
  let shard = stored.value;
  if (shard.state === 'done' || shard.state === 'failed' || shard.state === 'cancelled') return 'done';
  const now = deps.clock.now();
  if (shard.lease && shard.lease.owner !== runId && Date.parse(shard.lease.until) > now.getTime()) {
    return 'busy';
  }
  if (job.value.state !== 'active') return finishShard(id, shard, 'cancelled', deps);
  shard = {
    ...shard,
    state: 'running',
    attempts: shard.attempts + 1,
    lease: { owner: runId, until: new Date(now.getTime() + deps.clock.remainingMs()).toISOString() },
    updatedAt: now.toISOString(),
  };
  if (!(await store.putShard(id, shard, { ifMatch: stored.etag }))) return 'busy';

  const request = requestOf(job.value);
  const scope = shard.scope;
  const payload: RestorePayload = {
    ...request,
    ...('keys' in scope ? { keys: scope.keys, prefix: undefined } : {}),
    maxObjects: deps.chunkKeys ?? CHUNK_KEYS,
  };
  const fingerprint = requestFingerprint(payload, request.source ?? '');
  try {
    return await runChunks();
  } catch (error) {
    // A failure (unlike a kill) can hand the shard back at once: the redelivery need not wait for this
    // invocation's deadline. Its last checkpoint stays; the chunk that failed is planned again.
    const { lease: _lease, ...released } = shard;
    await store.putShard(id, released).catch(() => undefined); // the lease still expires at the deadline
    throw error;
  }

  async function runChunks(): Promise<'done'> {
    for (;;) {
      const from = shard.cursor ?? ('after' in scope ? scope.after : undefined) ?? '';
      const report = await restoreObjects(
        { ...payload, cursor: encodeCursor({ after: from }, fingerprint) },
        deps,
        'through' in scope ? { through: scope.through } : {},
      );
      shard = accumulate(shard, report, deps.clock.now());
      // Progress as a metric: the "job stalled" alarm fires when the job queue holds work and none is done.
      deps.metrics.addMetric('JobObjectsExamined', 'Count', report.examined);
      if (report.cursor) shard.cursor = decodeCursor(report.cursor, fingerprint).after;
      if (report.stoppedBy === 'failures') {
        throw new ShardFailedError(
          `every key of a batch failed in shard ${n} of job ${id}: ${report.failures[0]?.error ?? 'see the logs'}`,
        );
      }
      if (report.complete) return finishShard(id, shard, 'done', deps);
      // The checkpoint (a worker killed now resumes from here) is written while the job is read for a
      // cancel: one round trip between chunks, not two. What follows writes the shard again, after it.
      const [latest] = await Promise.all([store.job(id), store.putShard(id, shard)]);
      if (latest?.value.state !== 'active') return finishShard(id, shard, 'cancelled', deps);
      if (report.stoppedBy === 'deadline' || deps.clock.remainingMs() < deps.settings.safetyMarginMs * 2) {
        const { lease: _lease, ...released } = shard;
        await store.putShard(id, released);
        await deps.queue.send([{ v: 1, kind: 'shard', job: id, shard: n }]);
        return 'done';
      }
    }
  }
}

async function finishShard(
  id: string,
  shard: ShardState,
  state: 'done' | 'cancelled',
  deps: RestoreJobDeps,
): Promise<'done'> {
  const store = new JobStore(deps.dr);
  const { lease: _lease, ...rest } = shard;
  await store.putShard(id, { ...rest, state, updatedAt: deps.clock.now().toISOString() });
  await store.markDone(id, shard.shard);
  await finishIfDone(id, deps);
  return 'done';
}

function accumulate(shard: ShardState, report: RestoreReport, now: Date): ShardState {
  const plan = { ...shard.plan };
  for (const [action, t] of Object.entries(report.plan)) {
    const into = plan[action] ?? emptyTally();
    addTally(into, t);
    plan[action] = into;
  }
  const results = structuredClone(shard.results);
  if (report.results) {
    addTally(results.restored, report.results.restored);
    addTally(results.thawing, report.results.thawing);
    addTally(results.failed, report.results.failed);
  }
  return {
    ...shard,
    examined: shard.examined + report.examined,
    plan,
    results,
    failures: [...shard.failures, ...report.failures].slice(0, DETAIL_LIMIT),
    thawing: [...shard.thawing, ...(report.thawing as unknown as Record<string, unknown>[])].slice(
      0,
      DETAIL_LIMIT,
    ),
    warnings: [...new Set([...shard.warnings, ...report.warnings])],
    updatedAt: now.toISOString(),
  };
}

/** How a restore job's live status is computed: for the list of recent jobs of every kind. */
export function restoreJobStatus(clock: Clock): JobKindOps['status'] {
  return (job, store) => computeStatus(job, store, clock);
}
