import { channel } from 'node:diagnostics_channel';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { OutcomeEvent, Outcomes, Telemetry } from '../core/telemetry.ts';

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

/** Publishes outcomes to local subscribers (no-op without subscribers). */
export const outcomes: Outcomes = {
  publish(event: OutcomeEvent): void {
    if (outcomeChannel.hasSubscribers) outcomeChannel.publish(event);
  },
};

/** The telemetry port (lib/core/telemetry.ts), adapted once: Powertools' logger and metrics, the channel. */
export const telemetry: Telemetry = { logger, metrics, outcomes };
