import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.ts';
import { logger, metrics } from '../lib/observability.ts';
import { resolveRestore } from '../lib/plan-restore.ts';
import { type RestoreReport, restoreObjects } from '../lib/restore-objects.ts';
import { parseRestorePayload } from '../lib/restore-payload.ts';
import { withRunLease } from '../lib/run-lease.ts';
import { storesRuntime } from '../lib/runtime.ts';

// Only S3 stores: no SQS client in this bundle (lib/runtime.ts).
const config = loadConfig();
const stores = storesRuntime(config);

/**
 * `sls invoke -f restore --data '{…}'` → validated payload → restore (dry run by default, under the run
 * lease of that payload: `sls invoke` re-sending it after 120 s is refused, not run twice) → report.
 */
export const run = (event: unknown, context: Context): Promise<RestoreReport> => {
  const payload = parseRestorePayload(event);
  // Refuses a source or target off the allow-list before any request (the lease's included), and names
  // the source, so `{ prefix }` and `{ prefix, source }` for the only source are the same request.
  const { source } = resolveRestore(payload, config);
  const clock = { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() };
  return withRunLease(
    { name: 'restore', request: { ...payload, source }, runId: context.awsRequestId },
    { store: stores.dr, clock, log: logger },
    () =>
      restoreObjects(payload, {
        dr: stores.dr,
        storeFor: stores.storeFor,
        clock,
        settings: config,
        logger,
        metrics,
      }),
  );
};

export const handler = middy<unknown, RestoreReport, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
