import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '../lib/observability.ts';
import { resolveRestore } from '../lib/plan-restore.ts';
import { type RestoreReport, restoreObjects } from '../lib/restore-objects.ts';
import { parseRestorePayload } from '../lib/restore-payload.ts';
import { withRunLease } from '../lib/run-lease.ts';
import { createRuntime } from '../lib/runtime.ts';

const runtime = createRuntime();

/**
 * `sls invoke -f restore --data '{…}'` → validated payload → restore (dry run by default, under the run
 * lease of that payload: `sls invoke` re-sending it after 120 s is refused, not run twice) → report.
 */
export const run = (event: unknown, context: Context): Promise<RestoreReport> => {
  const payload = parseRestorePayload(event);
  // Refuses a source or target off the allow-list before any request (the lease's included), and names
  // the source, so `{ prefix }` and `{ prefix, source }` for the only source are the same request.
  const { source } = resolveRestore(payload, runtime.config);
  const clock = { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() };
  return withRunLease(
    { name: 'restore', request: { ...payload, source }, runId: context.awsRequestId },
    { store: runtime.dr, clock, log: logger },
    () =>
      restoreObjects(payload, {
        dr: runtime.dr,
        storeFor: runtime.storeFor,
        clock,
        settings: runtime.config,
        logger,
        metrics,
      }),
  );
};

export const handler = middy<unknown, RestoreReport, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
