/**
 * The job worker's handling of one job-queue message, composed as functions/job-worker.ts composes it
 * (functions/job-handlers.ts through lib/jobs/batch.ts), over test deps: for tests of what happens at a message's
 * last try, which the kinds no longer handle themselves.
 */
import { jobHandlers } from '../../functions/job-handlers.ts';
import type { QueueMessage } from '../../lib/core/ports.ts';
import { jobMessages } from '../../lib/jobs/batch.ts';
import type { JobMessage } from '../../lib/jobs/model.ts';
import type { RestoreJobDeps } from '../../lib/restore/job.ts';
import type { VerifyJobDeps } from '../../lib/verify/job.ts';
import { silentLog } from './telemetry.ts';

function needed<T>(deps: T | undefined, kind: string): () => T {
  return () => {
    if (!deps) throw new Error(`this test's worker runs no ${kind} messages`);
    return deps;
  };
}

/** A job worker for restore's and verify's messages, as one invocation `runId`. */
export function jobWorker(
  deps: { restore?: RestoreJobDeps; verify?: VerifyJobDeps; logger?: typeof silentLog },
  runId = 'worker',
): (message: QueueMessage) => Promise<void> {
  const maxReceiveCount = deps.restore?.maxReceiveCount ?? deps.verify?.maxReceiveCount ?? 5;
  return jobMessages(
    jobHandlers(runId, { restore: needed(deps.restore, 'restore'), verify: needed(deps.verify, 'verify') }),
    { logger: deps.logger ?? silentLog, maxReceiveCount },
  );
}

/** A job message as SQS delivers it the `receiveCount`th time (ApproximateReceiveCount). */
export function delivery(message: JobMessage, receiveCount: number): QueueMessage {
  return { messageId: `m-${receiveCount}`, body: JSON.stringify(message), receiveCount };
}
