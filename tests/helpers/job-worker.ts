/**
 * The job worker's handling of one job-queue message, composed as functions/job-worker.ts composes it
 * (lib/jobs/batch.ts with each kind's handler), over test deps: for tests of what happens at a message's
 * last try, which the kinds no longer handle themselves.
 */
import type { QueueMessage } from '../../lib/core/ports.ts';
import { type JobMessageHandler, jobMessages } from '../../lib/jobs/batch.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import { type RestoreJobDeps, restoreMessageHandler } from '../../lib/restore/job.ts';
import { failJob, runVerifyMessage, type VerifyJobDeps } from '../../lib/verify/job.ts';
import { silentLog } from './telemetry.ts';

const none: JobMessageHandler<JobMessage> = {
  run: async (message) => {
    throw new Error(`this test's worker runs no ${message.kind} messages`);
  },
  onLastFailure: async () => undefined,
};

/** A job worker for restore's messages (and, with `verify`, verify's runs), as one invocation `runId`. */
export function jobWorker(
  deps: { restore?: RestoreJobDeps; verify?: VerifyJobDeps; logger?: typeof silentLog },
  runId = 'worker',
): (message: QueueMessage) => Promise<void> {
  const restore = deps.restore ? restoreMessageHandler(runId, deps.restore) : none;
  const { verify } = deps;
  const maxReceiveCount = deps.restore?.maxReceiveCount ?? deps.verify?.maxReceiveCount ?? 5;
  return jobMessages(
    {
      plan: restore,
      shard: restore,
      run: verify
        ? {
            run: (message, receiveCount) => runVerifyMessage(message, receiveCount, runId, verify),
            onLastFailure: (message, error) => failJob(message, error, verify),
          }
        : none,
    },
    { logger: deps.logger ?? silentLog, maxReceiveCount },
  );
}

/** A job message as SQS delivers it the `receiveCount`th time (ApproximateReceiveCount). */
export function delivery(message: JobMessage, receiveCount: number): QueueMessage {
  return { messageId: `m-${receiveCount}`, body: JSON.stringify(message), receiveCount };
}
