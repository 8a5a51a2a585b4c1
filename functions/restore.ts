import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '../lib/observability.ts';
import { type RestoreReport, restoreObjects } from '../lib/restore-objects.ts';
import { parseRestorePayload } from '../lib/restore-payload.ts';
import { createRuntime } from '../lib/runtime.ts';

const runtime = createRuntime();

/** `sls invoke -f restore --data '{…}'` → validated payload → restore (dry run by default) → report. */
export const run = (event: unknown, context: Context): Promise<RestoreReport> =>
  restoreObjects(parseRestorePayload(event), {
    dr: runtime.dr,
    storeFor: runtime.storeFor,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings: runtime.config,
    logger,
    metrics,
  });

export const handler = middy<unknown, RestoreReport, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
