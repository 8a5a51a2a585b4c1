import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { EnqueueError } from '../core/errors.ts';
import type { TaskQueue } from '../core/ports.ts';
import { encodeTaskBody, type Task } from '../core/task.ts';
import type { JobMessage, JobQueue } from '../jobs/model.ts';

const BATCH = 10;

/**
 * The SQS implementation of {@link TaskQueue}. Sends in batches of ten; entries SQS reports as failed
 * are sent again with backoff (the SDK already retries whole-request failures). If entries still fail,
 * the call throws, so the caller's invocation fails and its own retry/DLQ path keeps the work.
 */
class SqsBatchSender<T> {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly entryAttempts: number;
  private readonly encode: (item: T) => string;

  constructor(client: SQSClient, queueUrl: string, encode: (item: T) => string, entryAttempts = 4) {
    this.client = client;
    this.queueUrl = queueUrl;
    this.encode = encode;
    this.entryAttempts = entryAttempts;
  }

  async send(tasks: T[]): Promise<void> {
    const batches: T[][] = [];
    for (let i = 0; i < tasks.length; i += BATCH) batches.push(tasks.slice(i, i + BATCH));
    await Promise.all(batches.map((batch) => this.sendBatch(batch)));
  }

  private async sendBatch(batch: T[]): Promise<void> {
    let pending: SendMessageBatchRequestEntry[] = batch.map((task, i) => ({
      Id: String(i),
      MessageBody: this.encode(task),
    }));
    let lastErrors: string[] = [];
    for (let attempt = 1; attempt <= this.entryAttempts && pending.length > 0; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
      const r = await this.client.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
      );
      const failed = new Set((r.Failed ?? []).map((f) => f.Id));
      lastErrors = (r.Failed ?? []).map((f) => `${f.Code ?? 'Error'}: ${f.Message ?? ''}`);
      pending = pending.filter((e) => failed.has(e.Id));
    }
    if (pending.length > 0) {
      throw new EnqueueError(
        `${pending.length} of ${batch.length} tasks could not be queued after ${this.entryAttempts} attempts: ${lastErrors.join('; ')}`,
      );
    }
  }
}

export class SqsTaskQueue extends SqsBatchSender<Task> implements TaskQueue {
  constructor(client: SQSClient, queueUrl: string, entryAttempts = 4) {
    super(client, queueUrl, encodeTaskBody, entryAttempts);
  }
}

/**
 * The SQS implementation of {@link JobQueue}. Job messages name a job and a shard or planning step;
 * job ids are ASCII, so plain JSON is a valid SQS body.
 */
export class SqsJobQueue extends SqsBatchSender<JobMessage> implements JobQueue {
  constructor(client: SQSClient, queueUrl: string, entryAttempts = 4) {
    super(client, queueUrl, (m) => JSON.stringify(m), entryAttempts);
  }
}
