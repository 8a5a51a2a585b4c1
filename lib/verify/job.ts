/**
 * Verify as a job (docs/design.md, invariant 8). `startVerifyJob` records the request and queues its
 * first planning step, then answers at once; the job worker cuts each source bucket's key space into
 * shards and verifies them in parallel, each shard a key range with its own resumable cursor
 * (lib/verify/job-run.ts). The job's status sums its shards; once every shard is finished its final
 * report — the pass per bucket, summed over the shards — is written once, and a complete pass publishes
 * the pass metrics then (lib/verify/job-report.ts).
 */
import { describeError } from '../core/errors.ts';
import type { Clock } from '../core/ports.ts';
import type { JobMessageHandler } from '../jobs/batch.ts';
import {
  cancelJobOf,
  failActiveJob,
  type JobKindOps,
  type JobLifecycleDeps,
  jobStatusOf,
  startJob,
} from '../jobs/lifecycle.ts';
import type { JobMessage, JobStatus } from '../jobs/model.ts';
import { JobStore } from '../jobs/store.ts';
import { computeStatus, finishIfDone } from './job-report.ts';
import { planStep, recordLastFailure, runShard } from './job-run.ts';
import type { VerifyRequest } from './payload.ts';
import type { VerifyRunDeps } from './run.ts';

export type VerifyJobControlDeps = JobLifecycleDeps;

export interface VerifyJobDeps extends VerifyRunDeps {
  jobQueue: JobLifecycleDeps['jobQueue'];
  stage: string;
  /** Tries of a job message before it moves to the job DLQ (the queue's maxReceiveCount). */
  maxReceiveCount: number;
  /** Source keys per shard (S3DR_VERIFY_SHARD_KEYS). */
  shardKeys: number;
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
 * answers with the identical job already running. Nothing is verified here: the first planning step is
 * queued.
 */
export function startVerifyJob(request: VerifyRequest, deps: VerifyJobControlDeps): Promise<JobStatus> {
  // Sources in order, so a request naming them in another order is the same job.
  const normalized: VerifyRequest = { ...request, sources: [...request.sources].sort() };
  return startJob(
    {
      request: normalized as unknown as Record<string, unknown>,
      // One pass over a scope at a time: two jobs with other options would contend for each range's
      // cursor (each range's lease keeps them apart, but the loser's message waits out the visibility
      // timeout), so a second request over the scope is refused, naming the running job.
      slot: { sources: normalized.sources, prefix: normalized.prefix },
      // A verify never writes to a bucket it compares: `repair` (which only queues tasks) is part of its request.
      dryRun: false,
      context: async () => ({ dr: deps.dr.bucket }),
      first: (id) => [{ v: 1, kind: 'plan', job: id, step: 0 }],
    },
    ops(deps.clock, (id) => finishIfDone(id, deps)),
    deps,
  );
}

/**
 * The status of a verify job: shards planned and finished, keys checked, the pass counts, rate and ETA;
 * its final report once it is finished.
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
 * Cancels a verify job: no shard starts another run; a run in progress is recorded and its shard
 * finishes as cancelled, and the report — written when the last shard has — covers every run. What was
 * verified and the repairs queued stay.
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

/** How the job worker runs a verify job's messages, and records a message's last failed try. */
export function verifyMessageHandler(runId: string, deps: VerifyJobDeps): JobMessageHandler<JobMessage> {
  return {
    run: (message) => runVerifyMessage(message, runId, deps),
    onLastFailure: (message, error) =>
      message.kind === 'run'
        ? endChainedJob(message.job, deps).then(() => undefined)
        : recordLastFailure(message, error, deps),
  };
}

/**
 * Handles one job-queue message of a verify job (a planning step or a shard); throws (or answers `busy`)
 * to have SQS deliver it again. At its last try the job worker calls the handler's `onLastFailure`
 * (lib/jobs/batch.ts), which records why in the job before the message moves to the job DLQ.
 */
export function runVerifyMessage(
  message: JobMessage,
  runId: string,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  if (message.kind === 'run') return endChainedJob(message.job, deps);
  if (message.kind === 'plan') return planStep(message.job, message.step, deps);
  return runShard(message, runId, deps);
}

/**
 * A run message of a job an earlier version started as a chain of runs: nothing of this version can go
 * on with it, so it fails the job, saying so, rather than leaving it running forever.
 */
async function endChainedJob(id: string, deps: VerifyJobDeps): Promise<'done'> {
  const reason = 'started by an earlier version that ran verify as a chain of runs; start the verify again';
  deps.logger.warn('a verify run message of an earlier version; its job is failed', {
    action: 'job-run',
    job: id,
    error: describeError(new Error(reason)),
  });
  await failActiveJob(new JobStore(deps.dr), id, reason, deps.clock.now());
  await finishIfDone(id, deps);
  return 'done';
}
