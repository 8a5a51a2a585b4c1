import type { SQSEvent } from 'aws-lambda';
import { jobMessages } from '../lib/jobs/batch.ts';
import { lambdaHandler, sqsBatch } from './handler.ts';
import { jobHandlers } from './job-handlers.ts';
import { createRuntime, jobDeps, verifyJobDeps } from './runtime.ts';

const runtime = createRuntime();

/**
 * Job queue batch (planning steps and shards of restore and verify jobs) → run each in turn, by the kind
 * its job id names → partial batch response.
 */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) =>
  sqsBatch(
    event,
    invocation.context,
    jobMessages(
      jobHandlers(invocation.requestId, {
        restore: () => jobDeps(runtime, invocation),
        verify: () => verifyJobDeps(runtime, invocation),
      }),
      { logger: invocation.logger, maxReceiveCount: runtime.config.jobMaxReceiveCount },
    ),
    { inParallel: false },
  ),
);
