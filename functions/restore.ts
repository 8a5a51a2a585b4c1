import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '../lib/aws/observability.ts';
import { loadConfig } from '../lib/core/config.ts';
import type { JobStatus } from '../lib/jobs/model.ts';
import { parseJobControl } from '../lib/jobs/model.ts';
import { cancelJob, jobStatus, type RestoreJobDeps, startRestoreJob } from '../lib/restore/job.ts';
import { parseRestorePayload } from '../lib/restore/payload.ts';
import { queueRuntime, storesRuntime } from './runtime.ts';

// S3 stores, and SQS for the job queue only (functions/runtime.ts).
const config = loadConfig();
const stores = storesRuntime(config);
const queues = queueRuntime(config);

/**
 * `sls invoke -f restore --data '{…}'` → a restore job, answered within seconds whatever its size:
 * a restore payload starts one (or answers with the identical job already running); `{"job": "<id>"}`
 * returns its status, and the final report once it is done; `{"job": "<id>", "cancel": true}` stops it.
 */
export const run = (event: unknown, context: Context): Promise<JobStatus> => {
  const deps: RestoreJobDeps = {
    dr: stores.dr,
    storeFor: stores.storeFor,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings: config,
    logger,
    metrics,
    // Built on first use: a refused request needs no queue.
    queue: { send: (messages) => queues.jobQueue().send(messages) },
    stage: config.stage,
    shardKeys: config.jobShardKeys,
    maxReceiveCount: config.jobMaxReceiveCount,
  };
  const control = parseJobControl(event);
  if (control) return control.cancel ? cancelJob(control.job, deps) : jobStatus(control.job, deps);
  return startRestoreJob(parseRestorePayload(event), deps);
};

export const handler = middy<unknown, JobStatus, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
