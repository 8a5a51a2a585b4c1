import type { SQSEvent } from 'aws-lambda';
import { jobMessages } from '../lib/jobs/batch.ts';
import { runJobMessage } from '../lib/restore/job.ts';
import { lambdaHandler, sqsBatch } from './handler.ts';
import { createRuntime, jobDeps } from './runtime.ts';

const runtime = createRuntime();

/** Job queue batch (planning steps and shards of restore jobs) → run each in turn → partial batch response. */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) => {
  const deps = jobDeps(runtime, invocation);
  const runMessage = (message: Parameters<typeof runJobMessage>[0], receiveCount: number) =>
    runJobMessage(message, receiveCount, invocation.requestId, deps);
  return sqsBatch(event, invocation.context, jobMessages(runMessage, invocation.logger), {
    inParallel: false,
  });
});
