import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Task } from '../../lib/core/task.ts';

/** A replication task with sensible defaults. */
export function aTask(overrides: Partial<Task> = {}): Task {
  return {
    v: 1,
    bucket: 'source-bucket',
    key: 'photos/cat.jpg',
    eventName: 'ObjectCreated:Put',
    eventTime: new Date(Date.now() - 1000).toISOString(),
    sequencer: '0067440F4A9BC18C4E',
    size: 1024,
    etag: '0123456789abcdef0123456789abcdef',
    ...overrides,
  };
}

let messageCounter = 0;

/** An SQS record carrying `body` (a task, or any raw string for malformed-input tests). */
export function anSqsRecord(body: Task | string, overrides: Partial<SQSRecord> = {}): SQSRecord {
  messageCounter += 1;
  return {
    messageId: `msg-${messageCounter}`,
    receiptHandle: `rh-${messageCounter}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AROAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:s3-dr-test-replication',
    awsRegion: 'eu-west-1',
    ...overrides,
  };
}

export function anSqsEvent(...bodies: (Task | string)[]): SQSEvent {
  return { Records: bodies.map((b) => anSqsRecord(b)) };
}

/** An S3 notification record as S3 sends it (key URL-encoded, `+` for spaces). */
export function anS3Record(overrides: {
  bucket?: string;
  key?: string;
  rawKey?: string;
  eventName?: string;
  size?: number;
  eTag?: string;
  sequencer?: string;
}) {
  const key = overrides.rawKey ?? encodeURIComponent(overrides.key ?? 'photos/cat.jpg').replace(/%20/g, '+');
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'eu-west-1',
    eventTime: '2026-11-25T10:15:30.123Z',
    eventName: overrides.eventName ?? 'ObjectCreated:Put',
    s3: {
      s3SchemaVersion: '1.0',
      bucket: {
        name: overrides.bucket ?? 'source-bucket',
        arn: `arn:aws:s3:::${overrides.bucket ?? 'source-bucket'}`,
      },
      object: {
        key,
        ...(overrides.size === undefined ? {} : { size: overrides.size }),
        ...(overrides.eTag === undefined ? {} : { eTag: overrides.eTag }),
        sequencer: overrides.sequencer ?? '0067440F4A9BC18C4E',
      },
    },
  };
}

/** A Lambda context with a deadline `remainingMs` from now. */
export function aContext(remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 's3-dr-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:s3-dr-test',
    memoryLimitInMB: '512',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: '/aws/lambda/s3-dr-test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
