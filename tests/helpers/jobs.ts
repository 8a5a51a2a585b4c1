import type { Context } from 'aws-lambda';
import type { JobStatus } from '../../lib/jobs/model.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import { invokeHandler, lambdaContext } from '../../local/lambda-context.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { scaled } from './time-scale.ts';

export type RestoreHandler = (payload: unknown, context: Context) => Promise<JobStatus>;

/** One invocation of the restore handler, as `sls invoke -f restore --data …` makes it. */
export function invokeRestore(restore: RestoreHandler, payload: unknown): Promise<JobStatus> {
  return invokeHandler(restore, payload, lambdaContext('restore', 900_000));
}

/**
 * Starts a restore job, waits for the job queue to drain (the job's last message is deleted only once
 * its shard is recorded), and returns its final status.
 */
export async function runRestoreJob(
  rt: LocalRuntime,
  restore: RestoreHandler,
  payload: unknown,
  timeoutMs = scaled(180_000),
): Promise<JobStatus> {
  const started = await invokeRestore(restore, payload);
  await rt.jobsIdle(timeoutMs);
  return invokeRestore(restore, { job: started.job });
}

/** The final report of a restore job that finished; throws with its status when it has none. */
export async function restoreReport(
  rt: LocalRuntime,
  restore: RestoreHandler,
  payload: unknown,
): Promise<RestoreReport> {
  const status = await runRestoreJob(rt, restore, payload);
  if (!status.report) throw new Error(`job ${status.job} has no report: ${status.summary}`);
  return status.report as RestoreReport;
}
