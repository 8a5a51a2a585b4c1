import { describeError, InvalidPayloadError, ShardBusyError } from '../core/errors.ts';
import type { QueueMessage } from '../core/ports.ts';
import type { Log } from '../core/telemetry.ts';
import { type JobMessage, jobMessageSchema } from './model.ts';

/** How the job worker handles one kind of job message (a restore planning step or shard, a verify run). */
export interface JobMessageHandler<M extends JobMessage> {
  /** Runs the message; `busy` when another delivery holds its work (a shard's lease, a run not yet recorded). */
  run(message: M, receiveCount: number): Promise<'done' | 'busy'>;
  /**
   * The try that moves the message to the job DLQ failed, or found its work still held: records on the
   * job why, so the job ends failed and says so instead of waiting forever for a message that is gone.
   */
  onLastFailure(message: M, error: unknown): Promise<void>;
}

/** One handler per kind of job message: a kind added to the job queue's schema must say how it runs. */
export type JobMessageHandlers = {
  [K in JobMessage['kind']]: JobMessageHandler<Extract<JobMessage, { kind: K }>>;
};

/**
 * The job worker's handler of one SQS message: a message that fails — or whose work another delivery
 * holds (`busy`) — throws, so it fails alone and comes back after the visibility timeout
 * (docs/design.md, invariant 3). At its last try (the job queue's maxReceiveCount, after which SQS moves
 * it to the job DLQ) its kind's `onLastFailure` records why first — a busy answer too, since the DLQ
 * would otherwise hold the job's only message for that work while the job looks alive. A body that is
 * not a job message can never succeed: it is logged and dropped, not retried.
 */
export function jobMessages(
  handlers: JobMessageHandlers,
  { logger, maxReceiveCount }: { logger: Log; maxReceiveCount: number },
): (message: QueueMessage) => Promise<void> {
  return async (message) => {
    const parsed = parseJobMessage(message.body);
    if (!parsed) {
      logger.error('not a job message; dropped', {
        action: 'job-message',
        messageId: message.messageId,
        error: describeError(new InvalidPayloadError('message body is not a job message')),
      });
      return;
    }
    const handler = handlers[parsed.kind] as JobMessageHandler<JobMessage>;
    const last = message.receiveCount >= maxReceiveCount;
    let failure: unknown;
    try {
      if ((await handler.run(parsed, message.receiveCount)) === 'done') return;
      failure = new ShardBusyError(
        last
          ? `another delivery held ${describeMessage(parsed)} of job ${parsed.job} at each of its ${maxReceiveCount} tries`
          : `another delivery holds ${describeMessage(parsed)} of job ${parsed.job}`,
      );
    } catch (error) {
      failure = error;
    }
    if (last) await recordLastFailure(handler, parsed, failure, message.messageId, logger);
    else if (!(failure instanceof ShardBusyError)) {
      logger.error('a job message failed; it is delivered again', {
        action: 'job-message',
        job: parsed.job,
        messageId: message.messageId,
        error: describeError(failure),
      });
    }
    throw failure;
  };
}

async function recordLastFailure(
  handler: JobMessageHandler<JobMessage>,
  message: JobMessage,
  failure: unknown,
  messageId: string,
  logger: Log,
): Promise<void> {
  logger.error('a job message failed its last try and moves to the job DLQ', {
    action: 'job-dlq',
    job: message.job,
    messageId,
    work: describeMessage(message),
    error: describeError(failure),
  });
  try {
    await handler.onLastFailure(message, failure);
  } catch (error) {
    // The message still goes to the DLQ (whose alarm pages); the job's record could not say why.
    logger.error('recording a job message failure on its job failed', {
      action: 'job-dlq',
      job: message.job,
      messageId,
      error: describeError(error),
    });
  }
}

function describeMessage(message: JobMessage): string {
  if (message.kind === 'plan') return `planning step ${message.step}`;
  if (message.kind === 'shard') return `shard ${message.shard}`;
  return `run ${message.run}`;
}

function parseJobMessage(body: string): JobMessage | undefined {
  try {
    const parsed = jobMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON
  }
}
