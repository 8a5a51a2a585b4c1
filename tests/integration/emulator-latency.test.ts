/**
 * bench:restore models real S3's latency (docs/performance.md#restore-jobs): the emulator answers in
 * microseconds, while AWS's S3 performance whitepaper ("Timeouts and Retries for Latency-Sensitive
 * Applications", https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html)
 * puts the median latency of small requests "in the tens of milliseconds". The emulator in its own
 * process (as the benchmark runs it) holds every S3 request for the modelled latency, and no SQS request.
 */
import { HeadBucketCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Emulator, startEmulatorProcess } from '../../local/emulator.ts';
import { emulatorClient } from '../helpers/emulator.ts';

let emulator: Emulator;
let s3: S3Client;
let sqs: SQSClient;

beforeAll(async () => {
  emulator = await startEmulatorProcess({ port: 0, statusSnapshot: () => ({}) });
  s3 = emulatorClient(emulator.endpoint);
  sqs = new SQSClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(new ListBucketsCommand({}));
});

afterAll(async () => {
  s3.destroy();
  sqs.destroy();
  await emulator.stop();
});

/** Resolves once the emulator has counted `n` more requests of `kind` than `before` (it counts on arrival). */
async function arrived(kind: string, before: Record<string, number>, n = 1): Promise<void> {
  while (((await emulator.requestCounts())[kind] ?? 0) < (before[kind] ?? 0) + n) {
    await new Promise((r) => setImmediate(r));
  }
}

describe('the modelled S3 latency (Emulator.setS3LatencyMs)', () => {
  it('holds an S3 request that arrived while SQS requests pass, and releases it when the latency changes', async () => {
    // Prepare: a latency no test waits out, so "still held" is not a matter of timing.
    await emulator.setS3LatencyMs(600_000);
    const before = await emulator.requestCounts();
    let answered = false;
    const held = s3.send(new HeadBucketCommand({ Bucket: 'none-such' })).then(
      () => (answered = true),
      () => (answered = true), // 404 is an answer too: the point is when it comes
    );
    // Act: the S3 request has reached the emulator; an SQS round trip goes through meanwhile.
    await arrived('HeadBucket', before);
    await sqs.send(new CreateQueueCommand({ QueueName: 'latency-q' }));
    const listed = await sqs.send(new ListQueuesCommand({}));
    // Assess
    expect(listed.QueueUrls?.some((u) => u.endsWith('/latency-q'))).toBe(true);
    expect(answered).toBe(false);
    await emulator.setS3LatencyMs(0);
    await held;
    expect(answered).toBe(true);
  });

  it('serves a held S3 request by itself once its latency has passed', async () => {
    await emulator.setS3LatencyMs(5);
    const result = await s3.send(new ListBucketsCommand({}));
    await emulator.setS3LatencyMs(0);
    expect(result.$metadata.httpStatusCode).toBe(200);
  });
});
