import { loadConfig } from '../lib/core/config.ts';
import { InvalidPayloadError } from '../lib/core/errors.ts';
import { ingestNotification } from '../lib/ingest/notification.ts';
import { lambdaHandler } from './handler.ts';
import { queueRuntime } from './runtime.ts';

// Only the queue: no S3 client in this bundle (functions/runtime.ts).
const config = loadConfig();
const queue = queueRuntime(config).queue();

/** S3 notification → replication tasks. Fails the invocation (→ async retry → DLQ) on bad records. */
export const { run, handler } = lambdaHandler(async (event: unknown, { logger, metrics, outcomes }) => {
  const result = await ingestNotification(event, {
    queue,
    sourceBuckets: config.sourceBuckets,
    rules: config.rules,
  });
  metrics.addMetric('EventsIngested', 'Count', result.queued);
  for (const ignored of result.ignored)
    logger.info('notification record ignored', { ...ignored, action: 'ignore' });
  if (result.ignored.length > 0) metrics.addMetric('EventsIgnored', 'Count', result.ignored.length);
  outcomes.publish({ type: 'ingested', queued: result.queued });
  if (result.invalid.length > 0) {
    metrics.addMetric('EventsInvalid', 'Count', result.invalid.length);
    throw new InvalidPayloadError(
      `${result.invalid.length} notification record(s) are malformed (the ${result.queued} good ones were queued): ${result.invalid.map((i) => i.error).join(' | ')}`,
    );
  }
  return { queued: result.queued, ignored: result.ignored.length };
});
