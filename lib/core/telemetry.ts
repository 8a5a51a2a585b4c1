/**
 * The telemetry port: what domain code reports through. Logs and metrics go to CloudWatch in Lambda
 * (lib/aws/observability.ts adapts Powertools once); outcomes feed the local runtime's status line and page.
 * Domain code takes these as dependencies and never imports Powertools, Lambda types or a global.
 */

/** Structured log lines: a message and fields that are searchable in CloudWatch Logs Insights. */
export interface Log {
  debug(message: string, ...fields: Record<string, unknown>[]): void;
  info(message: string, ...fields: Record<string, unknown>[]): void;
  warn(message: string, ...fields: Record<string, unknown>[]): void;
  error(message: string, ...fields: Record<string, unknown>[]): void;
}

/** The CloudWatch units the pipeline's metrics use (the names Powertools' `MetricUnit` gives them). */
export type MetricUnit = 'Count' | 'Bytes' | 'Milliseconds';

/** CloudWatch metrics, flushed once per invocation by the handler wrapper. */
export interface Metrics {
  addMetric(name: string, unit: MetricUnit, value: number): void;
}

/** What one piece of work ended in, as the local runtime's status line and page count it. */
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

/** Where outcomes go; nothing listens in Lambda. */
export interface Outcomes {
  publish(event: OutcomeEvent): void;
}

/** The three together, as a handler hands them to domain code. */
export interface Telemetry {
  logger: Log;
  metrics: Metrics;
  outcomes: Outcomes;
}
