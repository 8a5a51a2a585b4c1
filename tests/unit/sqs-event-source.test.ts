/**
 * The local SQS event source (local/sqs-event-source.ts) scales its pollers as Lambda's do: "Lambda
 * reads messages in batches … When messages are available, Lambda starts processing … Lambda increases
 * the number of processes that are reading batches" and scales back when the queue empties (Lambda
 * Developer Guide, "Understanding polling and batching behavior for Amazon SQS event source mappings").
 * Locally that means one poller keeps long-polling an empty queue and the others wait for it to find
 * messages, instead of every poller asking every second.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { SqsEventSource } from '../../local/sqs-event-source.ts';

/** An SQS client whose ReceiveMessage calls stay pending until the test answers them. */
function fakeSqs() {
  const pending: ((messages: Message[]) => void)[] = [];
  const deleted: string[] = [];
  const client = {
    send(command: unknown) {
      if (command instanceof ReceiveMessageCommand)
        return new Promise((resolve) => pending.push((Messages) => resolve({ Messages })));
      if (command instanceof DeleteMessageBatchCommand) {
        for (const e of command.input.Entries ?? []) deleted.push(String(e.ReceiptHandle));
        return Promise.resolve({ Successful: command.input.Entries?.map((e) => ({ Id: e.Id })), Failed: [] });
      }
      throw new Error('unexpected command');
    },
  };
  return { client: client as unknown as SQSClient, pending, deleted };
}

/** Lets the pollers run until `done()` holds (each step is one turn of the event loop). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setImmediate(r));
}

describe('local SQS event source', () => {
  it('keeps one poller on an empty queue and wakes the others when it finds messages', async () => {
    const sqs = fakeSqs();
    const handled: string[] = [];
    const source = new SqsEventSource(
      sqs.client,
      async (event) => {
        handled.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
      {
        queueUrl: 'http://127.0.0.1/000000000000/q',
        queueArn: 'arn:aws:sqs:us-east-1:000000000000:q',
        region: 'us-east-1',
        functionName: 'fn',
        batchSize: 1,
        batchWindowMs: 0,
        timeoutMs: 1000,
        pollers: 10,
      },
    );
    source.start();
    await until(() => sqs.pending.length === 10);
    // The queue is empty: every poller's first receive comes back with nothing.
    for (const answer of sqs.pending.splice(0)) answer([]);
    await until(() => sqs.pending.length === 1);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(sqs.pending).toHaveLength(1);
    // Messages arrive: the polling one finds one, and the others start asking again.
    sqs.pending.shift()?.([{ MessageId: 'm1', ReceiptHandle: 'r1', Body: 'one' }]);
    await until(() => sqs.pending.length >= 9);
    await until(() => handled.length === 1 && sqs.deleted.length === 1);
    expect(handled).toEqual(['one']);
    const stopped = source.stop();
    for (const answer of sqs.pending.splice(0)) answer([]);
    await stopped;
  });
});
