import { channel } from 'node:diagnostics_channel';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** Structured JSON logger shared by every function (service name from POWERTOOLS_SERVICE_NAME). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 's3-dr' });

/** CloudWatch metrics as EMF, flushed by the `logMetrics` middleware at the end of each invocation. */
export const metrics = new Metrics({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 's3-dr',
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'S3DR',
  // Its own warnings (e.g. an invocation that had nothing to count) as structured log lines, at the
  // configured log level, instead of bare console output.
  logger,
});

/**
 * Every outcome is also published on a diagnostics channel. Nothing listens in Lambda (publishing to a
 * channel without subscribers costs nothing); the local runtime subscribes to draw its status line and
 * status page from the very events that feed the CloudWatch metrics.
 */
export const outcomeChannel = channel('s3dr:outcome');

export type OutcomeEvent =
  | { type: 'ingested'; queued: number }
  | {
      type: 'replicated';
      action:
        | 'copied'
        | 'deleted'
        | 'skipped'
        | 'retained'
        | 'tagged'
        | 'unreplicable'
        | 'thawing'
        | 'excluded';
      bytes: number;
      lagMs?: number;
    }
  | { type: 'replicate-failed'; reason: string }
  | { type: 'verified'; counts: Record<string, number>; passComplete: boolean }
  | { type: 'restored'; objects: number; bytes: number; failures: number };

/** Publishes an outcome to local subscribers (no-op without subscribers). */
export function publishOutcome(event: OutcomeEvent): void {
  if (outcomeChannel.hasSubscribers) outcomeChannel.publish(event);
}
