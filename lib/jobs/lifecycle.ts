/**
 * What every kind of job shares (docs/design.md, invariant 8): starting one — or answering with the
 * identical job already running —, its status, its cancel, and the list of recent jobs. A kind (restore,
 * verify) brings how it runs and how its status is computed ({@link JobKindOps}); everything about the
 * job record, the `active/` pointer and the refusals is here, once.
 */
import {
  JobConflictError,
  JobFinishedError,
  OtherKindJobError,
  OtherStageJobError,
  UnknownJobError,
} from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { Clock, ObjectStore } from '../core/ports.ts';
import type { Log } from '../core/telemetry.ts';
import {
  canonicalJson,
  JOB_PREFIX,
  type JobKind,
  type JobMessage,
  type JobQueue,
  type JobRecord,
  type JobStatus,
  jobIdentity,
  jobKeys,
  newJobId,
  parseJobId,
  TERMINAL_STATES,
} from './model.ts';
import { JobStore } from './store.ts';

export interface JobLifecycleDeps {
  dr: ObjectStore;
  clock: Clock;
  logger: Log;
  stage: string;
  jobQueue: JobQueue;
}

/** What a kind of job tells the shared lifecycle. */
export interface JobKindOps {
  kind: JobKind;
  /** The live status of a job of this kind that has no final report yet. */
  status(job: JobRecord, store: JobStore): Promise<JobStatus>;
  /** Writes the final report once nothing of the job is left running (called after a cancel). */
  finishIfDone(id: string): Promise<void>;
}

/** A new job's request, as its kind validated and normalized it. */
export interface NewJob {
  request: Record<string, unknown>;
  /**
   * What a job holds its slot for, when it is less than the whole request: verify holds a scope (its
   * sources and prefix), so one pass over a scope runs at a time whatever its options. Unset: the request.
   */
  slot?: Record<string, unknown>;
  dryRun: boolean;
  /** Where the job reads and writes, resolved when it is recorded (for the report). */
  context: () => Promise<Record<string, unknown>>;
  /** The messages that set it going. */
  first: (id: string) => JobMessage[];
  /** Called with the identical job found running (restore re-sends a lost first planning step). */
  onRunning?: (status: JobStatus, store: JobStore) => Promise<void>;
}

const capitalized = (text: string) => `${text[0]?.toUpperCase() ?? ''}${text.slice(1)}`;

/**
 * Starts a job, or answers with the identical job already running (a client's re-sent invoke lands
 * here): the job is recorded (`If-None-Match: *`) before it is made the request's active one, and that
 * pointer is taken with a conditional write, so of two identical starts one job runs.
 *
 * @throws JobConflictError when the identical request runs with the other `dryRun`.
 */
export async function startJob(job: NewJob, ops: JobKindOps, deps: JobLifecycleDeps): Promise<JobStatus> {
  const { kind } = ops;
  const identity = jobIdentity(deps.stage, kind, job.slot ?? job.request);
  const store = new JobStore(deps.dr);
  const activeKey = jobKeys.active(kind, identity);

  for (let attempt = 1; attempt <= 3; attempt++) {
    const held = await store.active(activeKey);
    if (held) {
      const status = await jobStatusOf(held.value.job, ops, deps).catch((error: unknown) => {
        // A pointer to a job that was never recorded (a start that died between the two writes).
        if (error instanceof UnknownJobError) return undefined;
        throw error;
      });
      if (status && !TERMINAL_STATES.includes(status.state)) {
        if (status.dryRun !== job.dryRun) {
          throw new JobConflictError(
            `${capitalized(kind)} refused: job ${status.job} runs this same request with dryRun ${status.dryRun} (${status.state}); a dry run and a real run of one request never run at once. Wait for it, or cancel it with {"job":"${status.job}","cancel":true}. Nothing was written`,
          );
        }
        await refuseOtherRequest(status.job, job, kind, store);
        await job.onRunning?.(status, store);
        return { ...status, alreadyRunning: true };
      }
    }
    const now = deps.clock.now();
    // Named by the whole request: two requests over one slot (a verify scope) never share an id.
    const id = newJobId(deps.stage, kind, jobIdentity(deps.stage, kind, job.request), now);
    const record: JobRecord = {
      v: 1,
      id,
      kind,
      stage: deps.stage,
      identity,
      dryRun: job.dryRun,
      request: job.request,
      state: 'active',
      context: await job.context(),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    // The job is recorded before it is made the active one: a pointer always names a recorded job.
    if (!(await store.putJob(record, { ifNoneMatch: '*' }))) continue; // same request, same millisecond
    const took = await store.putActive(activeKey, id, held ? { ifMatch: held.etag } : { ifNoneMatch: '*' });
    if (!took) {
      // Another start of this request won the race: this record never runs (nothing was queued for it),
      // so it says so instead of looking like a job that runs forever; the next round answers with the
      // winner's job.
      await store.putJob({
        ...record,
        state: 'cancelled',
        error: 'an identical start at the same moment took the job slot; the request runs as that job',
      });
      continue;
    }
    await deps.jobQueue.send(job.first(id));
    deps.logger.info(`${kind} job started`, { action: 'job-start', job: id, dryRun: job.dryRun });
    return jobStatusOf(id, ops, deps);
  }
  throw new JobConflictError(
    `${capitalized(kind)} refused: other starts of this same request kept taking its job slot; poll the job they started`,
  );
}

/**
 * Writes a sharded job's final report once nothing of it runs any more: every planned shard finished
 * (each marks itself done before it calls this, so the last one to finish sees all of them), or the job
 * failed as a whole (its planning), which finishes it at once. A cancelled job waits for the shards
 * already planned, which stop at their next checkpoint, so the report covers what they did. The report
 * is written once (If-None-Match) and logged; returns the job and its final status when this call wrote
 * it, for what a kind does once per job (verify: the pass metrics).
 */
export async function finishShardedJob(
  id: string,
  store: JobStore,
  plan: () => Promise<{ done: boolean; shards: number } | undefined>,
  status: (job: JobRecord) => Promise<JobStatus>,
  logger: Log,
): Promise<{ job: JobRecord; status: JobStatus } | undefined> {
  const job = await store.job(id);
  if (!job) return undefined;
  const planned = await plan();
  if (job.value.state !== 'failed' && planned) {
    if (job.value.state === 'active' && !planned.done) return undefined;
    if ((await store.countDone(id)) < planned.shards) return undefined;
  } else if (job.value.state === 'active') {
    return undefined;
  }
  const final = await status(job.value);
  if (!TERMINAL_STATES.includes(final.state)) return undefined;
  if (!(await store.putReport(id, final))) return undefined;
  const extra = { action: 'job-finish', job: id, state: final.state };
  if (final.state === 'complete') logger.info(final.summary, extra);
  else logger.error(final.summary, extra);
  return { job: job.value, status: final };
}

/**
 * A job that holds its slot for less than its request (`slot`) may be running another request over the
 * same slot: that is refused, naming it, rather than answered as if it were this one.
 *
 * @throws JobConflictError
 */
async function refuseOtherRequest(
  running: string,
  job: NewJob,
  kind: JobKind,
  store: JobStore,
): Promise<void> {
  if (!job.slot) return;
  const { dryRun: _a, ...theirs } = (await store.job(running))?.value.request ?? {};
  const { dryRun: _b, ...ours } = job.request;
  if (canonicalJson(theirs) === canonicalJson(ours)) return;
  throw new JobConflictError(
    `${capitalized(kind)} refused: job ${running} runs over the same ${Object.keys(job.slot).join(' and ')} with other options (${canonicalJson(theirs)}); one ${kind} job per scope at a time. Wait for it, or cancel it with {"job":"${running}","cancel":true}. Nothing was written`,
  );
}

/**
 * Refuses an id that names no job of this stage and kind before anything is read.
 *
 * @throws UnknownJobError, OtherStageJobError, OtherKindJobError.
 */
export function checkJobId(id: string, stage: string, kind: JobKind): void {
  const parsed = parseJobId(id);
  if (!parsed) {
    throw new UnknownJobError(
      `Unknown job ${JSON.stringify(id)}: not a job id (a start returns one, such as ${stage}.${kind}.20261202T093000000Z.0123456789ab)`,
    );
  }
  if (parsed.stage !== stage) {
    throw new OtherStageJobError(
      `Job ${id} belongs to stage ${parsed.stage}, not ${stage}: ask that stage (--stage ${parsed.stage}). Nothing was read or changed`,
    );
  }
  if (parsed.kind !== kind) {
    throw new OtherKindJobError(
      `Job ${id} is a ${parsed.kind} job, not a ${kind} job: ask the ${parsed.kind} function (sls invoke -f ${parsed.kind} --data '{"job":"${id}"}'). Nothing was read or changed`,
    );
  }
}

export async function loadJob(id: string, store: JobStore, stage: string, kind: JobKind) {
  checkJobId(id, stage, kind);
  const job = await store.job(id);
  if (!job) {
    throw new UnknownJobError(
      `Unknown job ${id}: stage ${stage} has no such job (s3://${store.dr.bucket}/${jobKeys.job(id)} does not exist)`,
    );
  }
  return job;
}

/**
 * The status of a job: live while it runs, and — once it is finished — its final report, which is
 * stored once and read back from then on.
 *
 * @throws UnknownJobError, OtherStageJobError, OtherKindJobError.
 */
export async function jobStatusOf(
  id: string,
  ops: JobKindOps,
  deps: Pick<JobLifecycleDeps, 'dr' | 'stage'>,
): Promise<JobStatus> {
  const store = new JobStore(deps.dr);
  const job = await loadJob(id, store, deps.stage, ops.kind);
  const final = await store.report(id);
  if (final !== undefined) return final as JobStatus;
  return ops.status(job.value, store);
}

/**
 * Cancels a job: its work stops at its next checkpoint; what was done stays done.
 *
 * @throws JobFinishedError for a job that is already complete, failed or cancelled.
 */
export async function cancelJobOf(id: string, ops: JobKindOps, deps: JobLifecycleDeps): Promise<JobStatus> {
  const store = new JobStore(deps.dr);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const job = await loadJob(id, store, deps.stage, ops.kind);
    const status = await jobStatusOf(id, ops, deps);
    if (TERMINAL_STATES.includes(status.state)) {
      throw new JobFinishedError(
        `Job ${id} is already ${status.state}; there is nothing to cancel. Nothing was changed`,
      );
    }
    const now = deps.clock.now().toISOString();
    if (await store.putJob({ ...job.value, state: 'cancelled', updatedAt: now }, { ifMatch: job.etag })) {
      deps.logger.info(`${ops.kind} job cancelled`, { action: 'job-cancel', job: id });
      // A job with nothing running has nothing left to finish it.
      await ops.finishIfDone(id);
      return jobStatusOf(id, ops, deps);
    }
  }
  throw new JobConflictError(`Job ${id} kept changing while it was being cancelled; ask again`);
}

/**
 * The stage's most recent jobs of every kind, newest first, with their status (the local status page
 * lists them). Lists `.s3dr/jobs/` by job (one ListObjectsV2 per 1,000 jobs) and reads the status of the
 * last `limit`, each computed by its kind.
 */
/**
 * Marks a job that is still active failed, saying why (the last try of one of its messages failed): a
 * job already finished or cancelled keeps its state. Conditional on the record read, so a concurrent
 * cancel is not overwritten.
 */
export async function failActiveJob(store: JobStore, id: string, reason: string, now: Date): Promise<void> {
  const job = await store.job(id);
  if (job?.value.state !== 'active') return;
  await store.putJob(
    { ...job.value, state: 'failed', error: reason, updatedAt: now.toISOString() },
    { ifMatch: job.etag },
  );
}

export async function recentJobs(
  deps: Pick<JobLifecycleDeps, 'dr' | 'stage'>,
  status: Record<JobKind, JobKindOps['status']>,
  limit = 10,
): Promise<JobStatus[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.dr.list({ prefix: JOB_PREFIX, delimiter: '/', token, maxKeys: 1000 });
    for (const p of page.commonPrefixes) {
      const id = p.slice(JOB_PREFIX.length, -1);
      if (parseJobId(id)?.stage === deps.stage) ids.push(id);
    }
    token = page.nextToken;
  } while (token);
  // Ids hold their start time after the kind: newest first.
  const newest = ids
    .sort((a, b) => ((a.split('.')[2] ?? '') < (b.split('.')[2] ?? '') ? 1 : -1))
    .slice(0, limit);
  const store = new JobStore(deps.dr);
  const statuses = await mapConcurrent(newest, 4, async (id) => {
    const job = await store.job(id);
    if (!job) return undefined;
    const final = await store.report(id);
    return (final as JobStatus | undefined) ?? status[job.value.kind](job.value, store);
  });
  return statuses.filter((s): s is JobStatus => s !== undefined);
}
