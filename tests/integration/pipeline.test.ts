import { DeleteObjectCommand, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import {
  awkwardKeys,
  bodyFor,
  listKeys,
  MiB,
  putMultipart,
  putObject,
  snapshots,
} from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;

beforeAll(async () => {
  // Two receives before the DLQ, so the poison message lands within half a minute. The visibility timeout
  // is short for that, but far above what one batch takes even on a busy machine: at 1 s, slow batches of
  // good tasks were received twice and dead-lettered under load (Lambda's mapping uses 6 × the timeout).
  // `retain` explicitly: the local default is `mirror` (tests/integration/restore-versions.test.ts).
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    visibilityTimeoutSeconds: 10,
    maxReceiveCount: 2,
    env: { S3DR_DELETE_POLICY: 'retain' },
  });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

describe('the local pipeline (delete policy retain)', () => {
  const keys = awkwardKeys(200);
  const sizeOf = (i: number) => [0, 1, 1024, MiB, 37][i % 5]!;
  const overwritten = keys.filter((_, i) => i % 10 === 3);
  const deletedOne = keys.filter((_, i) => i % 20 === 7);
  const deletedBatch = keys.filter((_, i) => i % 20 === 17);
  const multipartKey = 'multipart/three parts+ü.bin';

  it('replicates 200 awkward objects, overwrites and deletes with bytes, metadata and ETags intact', async () => {
    expect(rt.config.deletePolicy).toBe('retain');
    // Prepare: concurrent writes, a multipart upload, then overwrites and deletes (single and batch).
    await mapConcurrent(keys, 16, (key, i) =>
      putObject(rt.s3, source, key, bodyFor(key, 1, sizeOf(i)), {
        metadata: { origin: 'test', index: String(i) },
        contentType: i % 2 ? 'text/plain' : 'application/octet-stream',
        cacheControl: 'max-age=300',
      }),
    );
    const multipartEtag = await putMultipart(rt.s3, source, multipartKey, [5 * MiB, 5 * MiB, 123], {
      parts: '3',
    });
    expect(multipartEtag).toMatch(/-3"$/);
    await mapConcurrent(overwritten, 8, (key) =>
      putObject(rt.s3, source, key, bodyFor(key, 2, 2048), {
        metadata: { origin: 'overwrite' },
        contentType: 'text/csv',
      }),
    );
    // Deletes come after replication caught up: a key deleted before it was ever copied has nothing
    // to retain.
    await rt.drain(scaled(120_000));
    await mapConcurrent(deletedOne, 8, (key) =>
      rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key })),
    );
    await rt.s3.send(
      new DeleteObjectsCommand({
        Bucket: source,
        Delete: { Objects: deletedBatch.map((Key) => ({ Key })) },
      }),
    );

    // Act
    await rt.drain(scaled(120_000));

    // Assess: every live source object is in DR, identical.
    const live = await listKeys(rt.s3, source);
    expect(live).toHaveLength(keys.length + 1 - deletedOne.length - deletedBatch.length);
    const [src, copy] = await Promise.all([snapshots(rt.s3, source, live), snapshots(rt.s3, dr, live)]);
    expect(copy).toEqual(src);
    const multipart = copy[live.indexOf(multipartKey)];
    expect(multipart?.etag).toBe(multipartEtag);
    // retain: deleted keys keep their last replicated version in DR.
    const gone = [...deletedOne, ...deletedBatch];
    const kept = await snapshots(rt.s3, dr, gone);
    expect(kept.every((s) => s !== undefined)).toBe(true);
    expect(kept.map((s) => s?.metadata.origin)).toEqual(
      gone.map((k) => (overwritten.includes(k) ? 'overwrite' : 'test')),
    );
    expect(rt.status.snapshot().dlqDepth).toBe(0);
  }, 180_000);

  it('replicates a small new object with one S3 request, a conditional COPY (locally: retain, so no confirming HEAD)', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `counted/${i}.txt`);
    const writtenAt = new Date().toISOString();
    const before = await rt.emulator.requestCounts();
    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, Buffer.from(key)));
    await rt.drain(scaled(60_000));
    const after = await rt.emulator.requestCounts();
    const delta = (op: string) => (after[op] ?? 0) - (before[op] ?? 0);
    expect({ put: delta('PutObject'), head: delta('HeadObject'), copy: delta('CopyObject') }).toEqual({
      put: 50,
      head: 0,
      copy: 50,
    });
    // A duplicate of a replicated event copies the small object again: one request, no HEAD.
    await rt.sqs.send(
      new SendMessageCommand({
        QueueUrl: rt.queueUrl,
        MessageBody: JSON.stringify({
          v: 1,
          bucket: source,
          key: keys[0],
          eventName: 'ObjectCreated:Put',
          eventTime: writtenAt,
          size: Buffer.byteLength(keys[0]!),
          etag: (await snapshots(rt.s3, source, [keys[0]!]))[0]?.etag.replaceAll('"', ''),
        }),
      }),
    );
    const beforeDuplicate = await rt.emulator.requestCounts();
    await rt.drain(scaled(60_000));
    const afterDuplicate = await rt.emulator.requestCounts();
    expect((afterDuplicate.HeadObject ?? 0) - (beforeDuplicate.HeadObject ?? 0)).toBe(0);
    expect((afterDuplicate.CopyObject ?? 0) - (beforeDuplicate.CopyObject ?? 0)).toBe(1);
  }, 60_000);

  it('moves a poison message to the DLQ after maxReceiveCount and keeps replicating the rest', async () => {
    await rt.sqs.send(new SendMessageCommand({ QueueUrl: rt.queueUrl, MessageBody: '{"v":1,"bucket":' }));
    await putObject(rt.s3, source, 'after-poison.txt', Buffer.from('still flowing'));
    await rt.drain(scaled(180_000)); // two visibility timeouts, then the redrive

    const [copy] = await snapshots(rt.s3, dr, ['after-poison.txt']);
    expect(copy?.size).toBe(13);
    const dead = await rt.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: rt.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['{"v":1,"bucket":']);
  }, 240_000);
});
