import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describeError, InvalidPayloadError } from '../core/errors.ts';
import { type RestoreJobDeps, runJobMessage } from '../restore/job.ts';
import { jobMessageSchema } from './model.ts';

/**
 * The job worker's SQS batch: each message (a planning step or a shard) is handled on its own, and a
 * message that fails — or whose shard another delivery holds (`busy`) — is reported in
 * `batchItemFailures` alone, to come back after the visibility timeout (docs/design.md, invariant 3). A
 * body that is not a job message can never succeed: it is logged and dropped, not retried.
 */
export async function runJobBatch(
  event: SQSEvent,
  context: Pick<Context, 'awsRequestId'>,
  deps: RestoreJobDeps,
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    let parsed: ReturnType<typeof jobMessageSchema.safeParse>;
    try {
      parsed = jobMessageSchema.safeParse(JSON.parse(record.body));
    } catch (error) {
      parsed = { success: false, error } as never;
    }
    if (!parsed.success) {
      deps.logger.error('not a job message; dropped', {
        action: 'job-message',
        messageId: record.messageId,
        error: describeError(new InvalidPayloadError('message body is not a job message')),
      });
      continue;
    }
    try {
      const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
      const outcome = await runJobMessage(parsed.data, receiveCount, context.awsRequestId, deps);
      if (outcome === 'busy') batchItemFailures.push({ itemIdentifier: record.messageId });
    } catch (error) {
      deps.logger.error('a job message failed; it is delivered again', {
        action: 'job-message',
        job: parsed.data.job,
        messageId: record.messageId,
        error: describeError(error),
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
