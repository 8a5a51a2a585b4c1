import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent } from 'aws-lambda';
import { logger, metrics } from '../lib/aws/observability.ts';
import { loadConfig } from '../lib/core/config.ts';
import { replicateBatch } from '../lib/replicate/batch.ts';
import { replicateSettings, storesRuntime } from './runtime.ts';

// Only S3 stores: no SQS client in this bundle (functions/runtime.ts).
const config = loadConfig();
const stores = storesRuntime(config);
const settings = replicateSettings(config);

/** SQS batch of tasks → reconcile each key → partial batch response. */
export const run = (event: SQSEvent, context: Context) =>
  replicateBatch(event, context, {
    sourceStore: stores.sourceStore,
    dr: stores.dr,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings,
    logger,
    metrics,
  });

export const handler = middy<SQSEvent, Awaited<ReturnType<typeof run>>, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
