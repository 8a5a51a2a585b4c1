import { describeError, InvalidPayloadError, ShardBusyError } from '../core/errors.ts';
import type { QueueMessage } from '../core/ports.ts';
import type { Log } from '../core/telemetry.ts';
import { type JobMessage, jobMessageSchema } from './model.ts';

/** Runs one job message (a planning step or a shard); `busy` when another delivery holds its shard. */
export type JobMessageRunner = (message: JobMessage, receiveCount: number) => Promise<'done' | 'busy'>;

/**
 * The job worker's handler of one SQS message: a message that fails — or whose shard another delivery
 * holds (`busy`) — throws, so it fails alone and comes back after the visibility timeout
 * (docs/design.md, invariant 3). A body that is not a job message can never succeed: it is logged and
 * dropped, not retried.
 */
export function jobMessages(run: JobMessageRunner, logger: Log): (message: QueueMessage) => Promise<void> {
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
    let outcome: 'done' | 'busy';
    try {
      outcome = await run(parsed, message.receiveCount);
    } catch (error) {
      logger.error('a job message failed; it is delivered again', {
        action: 'job-message',
        job: parsed.job,
        messageId: message.messageId,
        error: describeError(error),
      });
      throw error;
    }
    if (outcome === 'busy')
      throw new ShardBusyError(`another delivery holds this shard of job ${parsed.job}`);
  };
}

function parseJobMessage(body: string): JobMessage | undefined {
  try {
    const parsed = jobMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON
  }
}
