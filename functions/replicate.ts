import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent } from 'aws-lambda';
import { logger, metrics } from '../lib/observability.ts';
import { replicateBatch } from '../lib/replicate-batch.ts';
import { createRuntime } from '../lib/runtime.ts';

const runtime = createRuntime();

/** SQS batch of tasks → reconcile each key → partial batch response. */
export const run = (event: SQSEvent, context: Context) =>
  replicateBatch(event, context, {
    sourceStore: runtime.sourceStore,
    dr: runtime.dr,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings: runtime.replicateSettings,
    logger,
    metrics,
  });

export const handler = middy<SQSEvent, Awaited<ReturnType<typeof run>>, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
