import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '../lib/aws/observability.ts';
import { parseVerifyRequest } from '../lib/verify/payload.ts';
import type { VerifyReport } from '../lib/verify/report.ts';
import { verifySources } from '../lib/verify/run.ts';
import { withRunLease } from '../lib/verify/run-lease.ts';
import { createRuntime } from './runtime.ts';

const runtime = createRuntime();

/**
 * Schedule event or `sls invoke -f verify --data '{…}'` → validated request → verify (under the run
 * lease of that request: a second concurrent run of it is refused) → report.
 */
export const run = (event: unknown, context: Context): Promise<VerifyReport> => {
  const request = parseVerifyRequest(event, runtime.config);
  const clock = { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() };
  return withRunLease(
    { name: 'verify', request, runId: context.awsRequestId },
    { store: runtime.dr, clock, log: logger },
    () =>
      verifySources(request, {
        sourceStore: runtime.sourceStore,
        dr: runtime.dr,
        queue: () => runtime.queue(),
        clock,
        settings: runtime.config,
        logger,
        metrics,
      }),
  );
};

export const handler = middy<unknown, VerifyReport, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(run);
