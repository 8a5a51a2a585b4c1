import type { Log, Metrics, Outcomes, Telemetry } from '../../lib/core/telemetry.ts';

/** A logger that drops every line. */
export const silentLog: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A logger that drops every line except those of the levels given. */
export const logWith = (levels: Partial<Log>): Log => ({ ...silentLog, ...levels });

export const noMetrics: Metrics = { addMetric: () => undefined };
export const noOutcomes: Outcomes = { publish: () => undefined };

/** Telemetry that goes nowhere, for domain code whose reports a test does not look at. */
export const silentTelemetry = (): Telemetry => ({
  logger: silentLog,
  metrics: noMetrics,
  outcomes: noOutcomes,
});
