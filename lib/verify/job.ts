/**
 * Verify as a job (docs/design.md, invariant 8). `startVerifyJob` records the request and queues its
 * first run, then answers at once; the job worker runs it as a chain of time-boxed runs: each run message
 * runs {@link verifySources} for the buckets whose pass the job has not completed yet — the pass goes on
 * from the cursor and ledger in DR as it always did — records what the run found, and queues the next
 * run, until every bucket's pass is complete. Then the job's final report (the runs' report with pass
 * totals) is written once and the job is `complete`.
 *
 * A run holds the run lease of the job's request (lib/verify/run-lease.ts), so a redelivered or
 * duplicate message never runs a second verify run of the job at once: it is `busy` and comes back later.
 * The run number in each message makes one of a run already recorded a no-op.
 */
import * as z from 'zod';
import { ConcurrentRunError, describeError } from '../core/errors.ts';
import type { Clock } from '../core/ports.ts';
import {
  cancelJobOf,
  failActiveJob,
  type JobKindOps,
  type JobLifecycleDeps,
  jobStatusOf,
  startJob,
} from '../jobs/lifecycle.ts';
import {
  type ChainState,
  type JobMessage,
  type JobRecord,
  type JobState,
  type JobStatus,
  jobKeys,
  TERMINAL_STATES,
} from '../jobs/model.ts';
import { JobStore } from '../jobs/store.ts';
import { CLASSES, type Counts, zeroCounts } from './cursor.ts';
import type { VerifyRequest } from './payload.ts';
import {
  type BucketReport,
  type RequestCounts,
  runReport,
  type VerifyReport,
  zeroRequests,
} from './report.ts';
import { type VerifyRunDeps, verifySources } from './run.ts';
import { withRunLease } from './run-lease.ts';

export type VerifyJobControlDeps = JobLifecycleDeps;

export interface VerifyJobDeps extends VerifyRunDeps {
  jobQueue: JobLifecycleDeps['jobQueue'];
  stage: string;
  /** Tries of a job message before it moves to the job DLQ (the queue's maxReceiveCount). */
  maxReceiveCount: number;
}

export type RunMessage = Extract<JobMessage, { kind: 'run' }>;

const requestSchema = z.object({
  sources: z.array(z.string()),
  prefix: z.string(),
  repair: z.boolean(),
  deep: z.number(),
  graceSeconds: z.number(),
});

const requestsSchema = z.object({
  list: z.number(),
  head: z.number(),
  attributes: z.number(),
  get: z.number(),
  tagging: z.number(),
});

/** What a verify job's runs found so far (the chain's `data`), per source bucket. */
const chainDataSchema = z.object({
  /** Keys classified by this job's runs. */
  checked: z.number().nonnegative(),
  buckets: z.record(
    z.string(),
    z.object({
      /** The pass of this bucket completed in one of this job's runs: later runs leave it out. */
      complete: z.boolean(),
      /** Summed over the job's runs of this bucket. */
      requests: requestsSchema,
      repairsQueued: z.number(),
      durationMs: z.number(),
      /** The bucket's report of its latest run: its pass holds the pass totals. */
      report: z.record(z.string(), z.unknown()),
    }),
  ),
});
type ChainData = z.infer<typeof chainDataSchema>;

const emptyData = (): ChainData => ({ checked: 0, buckets: {} });

function requestOf(job: JobRecord): VerifyRequest {
  return requestSchema.parse(job.request);
}

function dataOf(chain: ChainState | undefined): ChainData {
  return chain ? chainDataSchema.parse(chain.data) : emptyData();
}

function ops(clock: Clock, finish: (id: string) => Promise<void>): JobKindOps {
  return { kind: 'verify', status: (job, store) => computeStatus(job, store, clock), finishIfDone: finish };
}

/** How a verify job's live status is computed: for the list of recent jobs of every kind. */
export function verifyJobStatus(clock: Clock): JobKindOps['status'] {
  return (job, store) => computeStatus(job, store, clock);
}

/**
 * Starts a verify job for a validated request (the schedule's, or `sls invoke -f verify --data …`), or
 * answers with the identical job already running. Nothing is verified here: the first run is queued.
 */
export function startVerifyJob(request: VerifyRequest, deps: VerifyJobControlDeps): Promise<JobStatus> {
  // Sources in order, so a request naming them in another order is the same job.
  const normalized: VerifyRequest = { ...request, sources: [...request.sources].sort() };
  return startJob(
    {
      request: normalized as unknown as Record<string, unknown>,
      // A verify never writes to a bucket it compares: `repair` (which only queues tasks) is part of its request.
      dryRun: false,
      context: async () => ({ dr: deps.dr.bucket }),
      first: (id) => [{ v: 1, kind: 'run', job: id, run: 0 }],
    },
    ops(deps.clock, (id) => finishIfDone(id, deps)),
    deps,
  );
}

/**
 * The status of a verify job: runs so far, keys checked, the pass counts, rate and ETA; its final report
 * once it is finished.
 *
 * @throws UnknownJobError, OtherStageJobError, OtherKindJobError (a restore job's id).
 */
export function verifyStatus(id: string, deps: Pick<VerifyJobControlDeps, 'dr' | 'stage' | 'clock'>) {
  return jobStatusOf(
    id,
    ops(deps.clock, async () => undefined),
    deps,
  );
}

/**
 * Cancels a verify job: the run in progress (if any) finishes, no other starts; what its runs verified
 * and the repairs they queued stay, and the pass goes on from its cursor in the next verify.
 *
 * @throws JobFinishedError for a job that is already complete, failed or cancelled.
 */
export function cancelVerifyJob(id: string, deps: VerifyJobControlDeps): Promise<JobStatus> {
  return cancelJobOf(
    id,
    ops(deps.clock, (job) => finishIfDone(job, deps)),
    deps,
  );
}

/**
 * Handles one run message of a verify job; throws (or answers `busy`) to have SQS deliver it again. At
 * its last try the job worker calls {@link failJob} (lib/jobs/batch.ts).
 */
export function runVerifyMessage(
  message: RunMessage,
  _receiveCount: number,
  runId: string,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  return runStep(message.job, message.run, runId, deps);
}

async function runStep(
  id: string,
  run: number,
  runId: string,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  const store = new JobStore(deps.dr);
  const job = await store.job(id);
  if (!job) {
    deps.logger.warn('a job message names a job that does not exist; dropped', {
      action: 'job-run',
      job: id,
    });
    return 'done';
  }
  if (job.value.state !== 'active') {
    await finishIfDone(id, deps); // cancelled: nothing runs; its report is written if it is not yet
    return 'done';
  }
  const before = await store.chain(id);
  const runs = before?.value.runs ?? 0;
  if (before?.value.done) return 'done';
  if (run > runs) return 'busy'; // the run before it is not recorded yet
  if (before && run < runs) return resendNext(id, run, before.value, deps);

  const request = requestOf(job.value);
  let recorded: ChainState | undefined;
  try {
    // The lease of the job's request: a second delivery of this message cannot run the pass at once.
    recorded = await withRunLease(
      { name: 'verify', request, runId },
      { store: deps.dr, clock: deps.clock, log: deps.logger },
      async () => {
        const latest = await store.chain(id);
        if ((latest?.value.runs ?? 0) !== run) return undefined; // another delivery recorded it meanwhile
        const data = dataOf(latest?.value);
        const sources = request.sources.filter((b) => !data.buckets[b]?.complete);
        const report = await verifySources({ ...request, sources }, deps);
        // Job progress, as restore shards report theirs: the "job stalled" alarm watches it.
        deps.metrics.addMetric('JobObjectsExamined', 'Count', keysChecked(report));
        const next: ChainState = {
          v: 1,
          runs: run + 1,
          queued: latest?.value.queued ?? 0,
          done: false,
          data: accumulate(data, report),
          updatedAt: deps.clock.now().toISOString(),
        };
        next.done = request.sources.every((b) => dataOf(next).buckets[b]?.complete);
        const ok = await store.putChain(id, next, latest ? { ifMatch: latest.etag } : { ifNoneMatch: '*' });
        return ok ? next : undefined;
      },
    );
  } catch (error) {
    if (error instanceof ConcurrentRunError) return 'busy';
    throw error;
  }
  if (!recorded) return 'done';
  // After the lease is released, so the next run's message never meets it.
  if (recorded.done) await finishIfDone(id, deps);
  else await queueNext(id, recorded.runs, deps);
  return 'done';
}

/**
 * Queues run `run` unless the job was cancelled meanwhile (then its report is written), and records
 * that it was sent.
 */
async function queueNext(id: string, run: number, deps: VerifyJobDeps): Promise<void> {
  const store = new JobStore(deps.dr);
  const job = await store.job(id);
  if (job?.value.state !== 'active') {
    await finishIfDone(id, deps);
    return;
  }
  await deps.jobQueue.send([{ v: 1, kind: 'run', job: id, run }]);
  const chain = await store.chain(id);
  if (chain && chain.value.runs === run && chain.value.queued < run) {
    // Lost to a concurrent write, it is only re-sent once more by a redelivery: a duplicate is harmless.
    await store.putChain(id, { ...chain.value, queued: run }, { ifMatch: chain.etag });
  }
}

/**
 * A redelivered message of a run already recorded. The worker that recorded the last run may have died
 * before it queued the next one, which then would never come: a redelivery of that run queues it, unless
 * it is known to be sent. Any other is a no-op, so duplicates do not multiply.
 */
async function resendNext(id: string, run: number, chain: ChainState, deps: VerifyJobDeps): Promise<'done'> {
  if (run === chain.runs - 1 && chain.queued < chain.runs) await queueNext(id, chain.runs, deps);
  return 'done';
}

function keysChecked(report: VerifyReport): number {
  return CLASSES.reduce((n, c) => n + report.counts[c], 0);
}

function accumulate(data: ChainData, report: VerifyReport): ChainData {
  const buckets = { ...data.buckets };
  let checked = data.checked;
  for (const b of report.buckets) {
    for (const c of CLASSES) checked += b.counts[c];
    const prior = buckets[b.source];
    const requests = { ...(prior?.requests ?? zeroRequests()) } as RequestCounts;
    for (const k of Object.keys(requests) as (keyof RequestCounts)[]) requests[k] += b.requests[k];
    buckets[b.source] = {
      complete: b.pass.complete,
      requests,
      repairsQueued: (prior?.repairsQueued ?? 0) + b.repairsQueued,
      durationMs: (prior?.durationMs ?? 0) + b.durationMs,
      report: b as unknown as Record<string, unknown>,
    };
  }
  return { checked, buckets };
}

/** The pass totals of each bucket so far, as the bucket reports of a report over the job's runs. */
function passBuckets(data: ChainData): BucketReport[] {
  return Object.values(data.buckets).map((b) => {
    const report = b.report as unknown as BucketReport;
    return {
      ...report,
      counts: report.pass.counts,
      requests: b.requests,
      repairsQueued: b.repairsQueued,
      durationMs: b.durationMs,
    };
  });
}

async function computeStatus(job: JobRecord, store: JobStore, clock: Clock): Promise<JobStatus> {
  const chain = (await store.chain(job.id))?.value;
  const data = dataOf(chain);
  const request = requestOf(job);
  const runs = chain?.runs ?? 0;
  const buckets = passBuckets(data);
  let state: JobState;
  if (job.state === 'failed') state = 'failed';
  else if (job.state === 'cancelled') state = 'cancelled';
  else state = chain?.done ? 'complete' : 'running';

  const pass: Counts = zeroCounts();
  for (const b of buckets) for (const c of CLASSES) pass[c] += b.counts[c];
  const repairsQueued = buckets.reduce((n, b) => n + b.repairsQueued, 0);
  // The least advanced bucket; a bucket no run reached yet is at 0.
  const progress = Math.min(
    ...request.sources.map((s) => {
      const b = data.buckets[s];
      return b ? (b.complete ? 1 : (b.report as unknown as BucketReport).pass.progress) : 0;
    }),
  );
  const seconds = Math.max(0.001, (clock.now().getTime() - Date.parse(job.createdAt)) / 1000);
  const rate = data.checked / seconds;
  const etaSeconds =
    state === 'complete' ? 0 : progress > 0 ? Math.round((seconds * (1 - progress)) / progress) : null;
  const finished = TERMINAL_STATES.includes(state);
  const report: VerifyReport | undefined = finished
    ? runReport(
        {
          runId: job.id,
          startedAt: job.createdAt,
          repair: request.repair,
          deep: request.deep,
          graceSeconds: request.graceSeconds,
          prefix: request.prefix,
          reportKey: jobKeys.report(job.id),
        },
        buckets,
        buckets.reduce((n, b) => n + b.durationMs, 0),
      )
    : undefined;
  if (report && state !== 'complete') report.pass.complete = false;
  const counted = `ok ${pass.ok}, missing ${pass.missing}, mismatched ${pass.mismatched}, orphaned ${pass.orphaned}, pending ${pass.pending}, unreplicable ${pass.unreplicable}`;
  const summary = `verify job ${job.id} ${state}: ${runs} run(s), ${data.checked} key(s) checked, pass ${Math.floor(progress * 100)} % (${counted}; ${repairsQueued} repair(s) queued), ${rate.toFixed(0)} keys/s${etaSeconds !== null && state === 'running' ? `, ETA ${etaSeconds} s` : ''}`;
  return {
    job: job.id,
    kind: 'verify',
    state,
    dryRun: job.dryRun,
    createdAt: job.createdAt,
    runs,
    planning: { done: true, shards: 0 },
    shards: { planned: 0, done: 0, failed: 0, cancelled: 0 },
    progress: { objects: data.checked, bytes: 0, objectsPlanned: 0, bytesPlanned: 0 },
    counts: { ...pass, repairsQueued },
    rate: Number(rate.toFixed(1)),
    etaSeconds,
    failedShards: [],
    ...(job.error ? { error: job.error } : {}),
    ...(report ? { report } : {}),
    summary,
  };
}

/** Writes the final report once the job is finished: its pass complete, or the job cancelled or failed. */
async function finishIfDone(id: string, deps: Pick<VerifyJobDeps, 'dr' | 'clock' | 'logger'>): Promise<void> {
  const store = new JobStore(deps.dr);
  const job = await store.job(id);
  if (!job) return;
  const status = await computeStatus(job.value, store, deps.clock);
  if (!TERMINAL_STATES.includes(status.state)) return;
  if (await store.putReport(id, status)) {
    const extra = { action: 'job-finish', job: id, state: status.state };
    if (status.state === 'complete') deps.logger.info(status.summary, extra);
    else deps.logger.error(status.summary, extra);
  }
}

/** The try that sends a run message to the DLQ fails the job, saying why, and writes its report. */
export async function failJob(message: RunMessage, error: unknown, deps: VerifyJobDeps): Promise<void> {
  const store = new JobStore(deps.dr);
  const { name, message: text } = describeError(error);
  const reason = `run ${message.run} failed: ${name}: ${text} (after ${deps.maxReceiveCount} tries; the message is in the job DLQ)`;
  await failActiveJob(store, message.job, reason, deps.clock.now());
  await finishIfDone(message.job, deps);
}
