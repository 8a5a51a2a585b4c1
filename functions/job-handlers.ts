import type { JobMessageHandler, JobMessageHandlers } from '../lib/jobs/batch.ts';
import { type JobMessage, parseJobId } from '../lib/jobs/model.ts';
import { type RestoreJobDeps, type RestoreMessage, restoreMessageHandler } from '../lib/restore/job.ts';
import { type VerifyJobDeps, verifyMessageHandler } from '../lib/verify/job.ts';

/**
 * Each kind of job message with what runs it, for one invocation `runId`: planning steps and shards by
 * the kind of job their id names (restore or verify); a `run` message only ever belonged to a verify job.
 * Each kind's deps are built on first use, so an invocation of one kind's messages builds only its own.
 */
export function jobHandlers(
  runId: string,
  deps: { restore: () => RestoreJobDeps; verify: () => VerifyJobDeps },
): JobMessageHandlers {
  let restore: JobMessageHandler<RestoreMessage> | undefined;
  let verify: JobMessageHandler<JobMessage> | undefined;
  const verifyHandler = () => {
    verify ??= verifyMessageHandler(runId, deps.verify());
    return verify;
  };
  const forJob = (job: string): JobMessageHandler<RestoreMessage> => {
    if (parseJobId(job)?.kind === 'verify') return verifyHandler();
    restore ??= restoreMessageHandler(runId, deps.restore());
    return restore;
  };
  const byJob: JobMessageHandler<RestoreMessage> = {
    run: (message, receiveCount) => forJob(message.job).run(message, receiveCount),
    onLastFailure: (message, error) => forJob(message.job).onLastFailure(message, error),
  };
  return {
    plan: byJob,
    shard: byJob,
    run: {
      run: (message, receiveCount) => verifyHandler().run(message, receiveCount),
      onLastFailure: (message, error) => verifyHandler().onLastFailure(message, error),
    },
  };
}
