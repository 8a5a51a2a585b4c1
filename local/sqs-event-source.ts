import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type Handler, invokeHandler, lambdaContext } from './lambda-context.ts';

export interface EventSourceOptions {
  queueUrl: string;
  queueArn: string;
  region: string;
  functionName: string;
  batchSize: number;
  batchWindowMs: number;
  timeoutMs: number;
  pollers: number;
  onError?: (error: unknown) => void;
}

function toRecord(message: Message, options: EventSourceOptions): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'LOCAL',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

/**
 * Drains an SQS queue into a handler the way Lambda's SQS event source mapping does: several pollers
 * long-poll the queue, gather up to `batchSize` messages (waiting at most the batching window), invoke
 * the handler, delete the messages it did not report in `batchItemFailures`, and leave the failed ones
 * to reappear after the visibility timeout — where the queue's redrive policy moves a message to the
 * DLQ after `maxReceiveCount` receives. A handler that throws fails the whole batch, as in Lambda.
 *
 * Like Lambda's pollers, which scale up with the messages waiting and back down when the queue is empty,
 * only the first poller keeps long-polling an empty queue: the others wait for it to find messages.
 * Ten idle pollers each asking every second cost the local runtime a few per cent of a core, which the
 * benchmark's write phase measured.
 */
export class SqsEventSource {
  private running = false;
  /** Wakes the pollers that wait while the queue is empty (called when a poller finds messages, or on stop). */
  private wake: () => void = () => undefined;
  private woken: Promise<void> = Promise.resolve();
  private inFlightBatches = 0;
  private loops: Promise<void>[] = [];
  private readonly sqs: SQSClient;
  private readonly handler: Handler<SQSEvent, SQSBatchResponse | undefined>;
  private readonly options: EventSourceOptions;

  constructor(
    sqs: SQSClient,
    handler: Handler<SQSEvent, SQSBatchResponse | undefined>,
    options: EventSourceOptions,
  ) {
    this.sqs = sqs;
    this.handler = handler;
    this.options = options;
  }

  get inFlight(): number {
    return this.inFlightBatches;
  }

  start(): void {
    this.running = true;
    this.sleep();
    this.loops = Array.from({ length: this.options.pollers }, (_, i) => this.poll(i === 0));
  }

  /** Stops polling; resolves when in-flight batches have finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
  }

  /** Arms the wake-up the waiting pollers sleep on. */
  private sleep(): void {
    this.woken = new Promise((resolve) => {
      this.wake = () => {
        resolve();
        if (this.running) this.sleep();
      };
    });
  }

  private async receive(max: number, waitSeconds: number): Promise<Message[]> {
    const r = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    return r.Messages ?? [];
  }

  private async poll(first: boolean): Promise<void> {
    while (this.running) {
      try {
        const messages = await this.receive(this.options.batchSize, 1);
        if (messages.length === 0) {
          // The queue is empty: only the first poller keeps asking.
          if (!first) await this.woken;
          continue;
        }
        this.wake();
        const windowEnds = Date.now() + this.options.batchWindowMs;
        while (messages.length < this.options.batchSize && Date.now() < windowEnds && this.running) {
          const more = await this.receive(this.options.batchSize - messages.length, 0);
          if (more.length === 0)
            await new Promise((r) => setTimeout(r, Math.min(50, windowEnds - Date.now())));
          messages.push(...more);
        }
        await this.invoke(messages);
      } catch (error) {
        this.options.onError?.(error);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private async invoke(messages: Message[]): Promise<void> {
    this.inFlightBatches += 1;
    try {
      const event: SQSEvent = { Records: messages.map((m) => toRecord(m, this.options)) };
      let failed: Set<string>;
      try {
        const response = await invokeHandler(
          this.handler,
          event,
          lambdaContext(this.options.functionName, this.options.timeoutMs),
        );
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch (error) {
        this.options.onError?.(error);
        failed = new Set(messages.map((m) => m.MessageId ?? ''));
      }
      const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
      if (done.length > 0) {
        await this.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.options.queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
    } finally {
      this.inFlightBatches -= 1;
    }
  }
}
