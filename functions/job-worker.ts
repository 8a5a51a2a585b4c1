import type { SQSEvent } from 'aws-lambda';
import { jobMessages } from '../lib/jobs/batch.ts';
import { type JobMessage, parseJobId } from '../lib/jobs/model.ts';
import { runJobMessage } from '../lib/restore/job.ts';
import { runVerifyMessage } from '../lib/verify/job.ts';
import { lambdaHandler, sqsBatch } from './handler.ts';
import { createRuntime, jobDeps, verifyJobDeps } from './runtime.ts';

const runtime = createRuntime();

/**
 * Job queue batch (planning steps and shards of restore and verify jobs) → run each in turn, by the kind
 * its job id names → partial batch response.
 */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) => {
  const runMessage = (message: JobMessage, receiveCount: number) =>
    message.kind === 'run' || parseJobId(message.job)?.kind === 'verify'
      ? runVerifyMessage(message, receiveCount, invocation.requestId, verifyJobDeps(runtime, invocation))
      : runJobMessage(message, receiveCount, invocation.requestId, jobDeps(runtime, invocation));
  return sqsBatch(event, invocation.context, jobMessages(runMessage, invocation.logger), {
    inParallel: false,
  });
});
