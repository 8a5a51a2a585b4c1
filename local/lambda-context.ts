import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** A Lambda context whose deadline is `timeoutMs` from now, as Lambda gives each invocation. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export type Handler<E, R> = (event: E, context: Context) => Promise<R>;

/**
 * The function whose invocation the current asynchronous context belongs to. In Lambda each function
 * has its own process and role; locally the four handlers share one process, so the request recorder
 * (local/call-recorder.ts) asks this which function — and so which role — made a request. Requests the
 * runtime makes for AWS's side (creating buckets, polling the queue, the on-failure destination) run
 * outside any invocation.
 */
export const invocationScope = new AsyncLocalStorage<{ functionName: string }>();

/**
 * Whether invocations enter `invocationScope`: only while the request recorder runs. On Node 22 an
 * AsyncLocalStorage in use turns on promise hooks for the whole process, about 5 % of the runtime's
 * CPU per replicated object in `npm run bench`, which only the recorder has a use for.
 */
let scoped = false;
export function scopeInvocations(): void {
  scoped = true;
}

/** Invokes a handler as Lambda would invoke the function `context.functionName`. */
export function invokeHandler<E, R>(handler: Handler<E, R>, event: E, context: Context): Promise<R> {
  if (!scoped) return handler(event, context);
  return invocationScope.run({ functionName: context.functionName }, () => handler(event, context));
}
