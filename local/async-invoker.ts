import { describeError } from '../lib/core/errors.ts';
import { type Handler, invokeHandler, lambdaContext } from './lambda-context.ts';

export interface AsyncFailure {
  event: unknown;
  error: { name: string; message: string };
  attempts: number;
}

/**
 * Invokes a handler the way Lambda runs an asynchronous invocation (as S3 invokes `ingest`): on error
 * it retries `maximumRetryAttempts` times with a delay, then hands the event to the on-failure
 * destination. Lambda waits about a minute, then two, between attempts; locally the delays are
 * `retryDelayMs` and twice that, so a failing event reaches the DLQ in seconds.
 */
export class AsyncInvoker<E> {
  private inFlight = 0;
  private readonly handler: Handler<E, unknown>;
  private readonly options: {
    functionName: string;
    timeoutMs: number;
    maximumRetryAttempts: number;
    retryDelayMs: number;
    onFailure: (failure: AsyncFailure) => Promise<void>;
    onError?: (error: unknown, attempt: number) => void;
  };

  constructor(handler: Handler<E, unknown>, options: AsyncInvoker<E>['options']) {
    this.handler = handler;
    this.options = options;
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Queues one asynchronous invocation; never throws. */
  invoke(event: E): void {
    this.inFlight += 1;
    void this.run(event).finally(() => {
      this.inFlight -= 1;
    });
  }

  private async run(event: E): Promise<void> {
    const { maximumRetryAttempts, retryDelayMs, functionName, timeoutMs } = this.options;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maximumRetryAttempts + 1; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, retryDelayMs * (attempt - 1)));
      try {
        await invokeHandler(this.handler, event, lambdaContext(functionName, timeoutMs));
        return;
      } catch (error) {
        lastError = error;
        this.options.onError?.(error, attempt);
      }
    }
    try {
      await this.options.onFailure({
        event,
        error: describeError(lastError),
        attempts: maximumRetryAttempts + 1,
      });
    } catch (error) {
      this.options.onError?.(error, maximumRetryAttempts + 2);
    }
  }
}
