import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics, telemetry } from '../lib/aws/observability.ts';
import type { Clock, QueueMessage } from '../lib/core/ports.ts';
import type { Telemetry } from '../lib/core/telemetry.ts';

/** What every handler's work receives besides its event: the invocation's clock, request id and telemetry. */
export interface Invocation extends Telemetry {
  /** The Lambda deadline as a clock: domain code stops and resumes before the function is killed. */
  clock: Clock;
  requestId: string;
  /** The Lambda context itself, for adapters that need it (the SQS batch processor). */
  context: Context;
}

/**
 * The one wrapper every function uses: Powertools' logger gets the Lambda context (request id, cold
 * start) on every line, metrics are flushed as EMF when the invocation ends, and the work gets the
 * Lambda clock. Exported `run` functions stay callable with a plain event and context in tests.
 */
export function lambdaHandler<Event, Result>(
  work: (event: Event, invocation: Invocation) => Promise<Result>,
) {
  const run = (event: Event, context: Context) => work(event, invocation(context));
  const handler = middy<Event, Result, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(run);
  return { run, handler };
}

/** The invocation a context stands for. */
export function invocation(context: Context): Invocation {
  return {
    ...telemetry,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    requestId: context.awsRequestId,
    context,
  };
}

/**
 * An SQS batch, one message at a time through `handle`: a message whose `handle` throws fails alone
 * (listed in `batchItemFailures`, so SQS delivers it again after the visibility timeout and, past
 * maxReceiveCount, dead-letters it); the others succeed (docs/design.md, invariant 3). Powertools' batch
 * processor builds the partial response. A batch whose messages all fail is still a partial response: the
 * function's Errors metric stays for the function itself breaking.
 */
export function sqsBatch(
  event: SQSEvent,
  context: Context,
  handle: (message: QueueMessage) => Promise<unknown>,
  options: { inParallel: boolean },
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const record = (r: SQSRecord) =>
    handle({
      messageId: r.messageId,
      body: r.body,
      receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? '1'),
    });
  return processPartialResponse(event, record, processor, {
    context,
    processInParallel: options.inParallel,
    throwOnFullBatchFailure: false,
  });
}
