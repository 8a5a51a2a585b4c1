import type { SQSEvent } from 'aws-lambda';
import { jobMessages } from '../lib/jobs/batch.ts';
import type { JobMessage } from '../lib/jobs/model.ts';
import { runJobMessage } from '../lib/restore/job.ts';
import { runVerifyMessage } from '../lib/verify/job.ts';
import { lambdaHandler, sqsBatch } from './handler.ts';
import { createRuntime, jobDeps, verifyJobDeps } from './runtime.ts';

const runtime = createRuntime();

/**
 * Job queue batch (planning steps and shards of restore jobs, runs of verify jobs) → run each in turn →
 * partial batch response.
 */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) => {
  const runMessage = (message: JobMessage, receiveCount: number) =>
    message.kind === 'run'
      ? runVerifyMessage(message, receiveCount, invocation.requestId, verifyJobDeps(runtime, invocation))
      : runJobMessage(message, receiveCount, invocation.requestId, jobDeps(runtime, invocation));
  return sqsBatch(event, invocation.context, jobMessages(runMessage, invocation.logger), {
    inParallel: false,
  });
});
