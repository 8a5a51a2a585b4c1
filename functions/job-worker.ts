import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger, metrics } from '../lib/aws/observability.ts';
import { runJobBatch } from '../lib/jobs/batch.ts';
import { createRuntime } from './runtime.ts';

const runtime = createRuntime();

/** Job queue batch (planning steps and shards of restore jobs) → run each → partial batch response. */
export const run = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  runJobBatch(event, context, {
    dr: runtime.dr,
    storeFor: runtime.storeFor,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings: runtime.config,
    logger,
    metrics,
    // Built on first use: a refused request needs no queue.
    queue: { send: (messages) => runtime.jobQueue().send(messages) },
    stage: runtime.config.stage,
    shardKeys: runtime.config.jobShardKeys,
    maxReceiveCount: runtime.config.jobMaxReceiveCount,
  });

export const handler = middy<SQSEvent, SQSBatchResponse, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
