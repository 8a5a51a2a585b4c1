import type { SQSEvent } from 'aws-lambda';
import { type JobMessageHandlers, jobMessages } from '../lib/jobs/batch.ts';
import { restoreMessageHandler } from '../lib/restore/job.ts';
import { failJob, runVerifyMessage } from '../lib/verify/job.ts';
import { type Invocation, lambdaHandler, sqsBatch } from './handler.ts';
import { createRuntime, jobDeps, verifyJobDeps } from './runtime.ts';

const runtime = createRuntime();

/** Each kind of job message with what runs it in this invocation. */
function handlers(invocation: Invocation): JobMessageHandlers {
  const restore = restoreMessageHandler(invocation.requestId, jobDeps(runtime, invocation));
  const verify = () => verifyJobDeps(runtime, invocation);
  return {
    plan: restore,
    shard: restore,
    run: {
      run: (message, receiveCount) => runVerifyMessage(message, receiveCount, invocation.requestId, verify()),
      onLastFailure: (message, error) => failJob(message, error, verify()),
    },
  };
}

/**
 * Job queue batch (planning steps and shards of restore jobs, runs of verify jobs) → run each in turn →
 * partial batch response.
 */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) =>
  sqsBatch(
    event,
    invocation.context,
    jobMessages(handlers(invocation), {
      logger: invocation.logger,
      maxReceiveCount: runtime.config.jobMaxReceiveCount,
    }),
    { inParallel: false },
  ),
);
