import type { Context } from 'aws-lambda';
import { invocation } from '../../functions/handler.ts';
import type { Runtime } from '../../functions/runtime.ts';
import type { JobStatus } from '../../lib/jobs/model.ts';
import { parseVerifyRequest } from '../../lib/verify/payload.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { verifySources } from '../../lib/verify/run.ts';
import { withRunLease } from '../../lib/verify/run-lease.ts';
import { invokeHandler, lambdaContext } from '../../local/lambda-context.ts';
import type { LocalRuntime } from '../../local/runtime.ts';

export type VerifyHandler = (payload: unknown, context: Context) => Promise<JobStatus>;

/**
 * One verify run with the given invocation's deadline, as a verify job's run message makes it
 * (lib/verify/job.ts): the payload as the verify function validates it, the run lease of that request,
 * the verifier. For tests of what one time-boxed run does (the job chains such runs).
 */
export async function verifyRun(
  runtime: Pick<Runtime, 'config' | 'dr' | 'sourceStore' | 'queue'>,
  payload: unknown,
  context: Context,
): Promise<VerifyReport> {
  const request = parseVerifyRequest(payload, runtime.config);
  const run = invocation(context);
  return withRunLease(
    { name: 'verify', request, runId: run.requestId },
    { store: runtime.dr, clock: run.clock, log: run.logger },
    () =>
      verifySources(request, {
        ...run,
        sourceStore: runtime.sourceStore,
        dr: runtime.dr,
        queue: () => runtime.queue(),
        settings: runtime.config,
      }),
  );
}

/** One invocation of the verify handler, as `sls invoke -f verify --data …` makes it. */
export function invokeVerify(verify: VerifyHandler, payload: unknown): Promise<JobStatus> {
  return invokeHandler(verify, payload, lambdaContext('verify', 900_000));
}

/** Starts a verify job, waits for the job queue to drain, and returns the job's final status. */
export async function runVerifyJob(
  rt: LocalRuntime,
  verify: VerifyHandler,
  payload: unknown,
  timeoutMs = 180_000,
): Promise<JobStatus> {
  const started = await invokeVerify(verify, payload);
  await rt.jobsIdle(timeoutMs);
  return invokeVerify(verify, { job: started.job });
}

/** The final report of a verify job that finished; throws with its status when it has none. */
export async function verifyJobReport(
  rt: LocalRuntime,
  verify: VerifyHandler,
  payload: unknown,
): Promise<VerifyReport> {
  const status = await runVerifyJob(rt, verify, payload);
  if (!status.report) throw new Error(`job ${status.job} has no report: ${status.summary}`);
  return status.report as VerifyReport;
}
