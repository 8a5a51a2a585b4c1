/**
 * Hostile input through the real pipeline: keys with `.`/`..` segments and doubled slashes (legal S3
 * keys that path-minded software normalises into other keys), and hostile messages put straight on the
 * replication queue. Good objects replicate under exactly their keys; each hostile message ends in the
 * DLQ after maxReceiveCount tries, having written nothing.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { encodeTaskBody, type Task } from '../../lib/core/task.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject, snapshots } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;

beforeAll(async () => {
  // Two receives before the DLQ; a visibility timeout far above what a batch takes on a busy machine, so
  // only the hostile messages are received twice (at 1 s, a slow good batch could be too).
  rt = await startLocalRuntime({ port: 0, quiet: true, visibilityTimeoutSeconds: 10, maxReceiveCount: 2 });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

async function allKeys(bucket: string): Promise<string[]> {
  const r = await rt.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function dlqBodies(): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const r = await rt.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: rt.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (!r.Messages?.length) return bodies.sort();
    bodies.push(...r.Messages.map((m) => m.Body ?? ''));
  }
}

describe('hostile input through the local pipeline', () => {
  const dotKeys = [
    '../escape.txt',
    'a/../b.txt',
    './here/./x.txt',
    'up/..',
    'dir//double.txt',
    '/leading.txt',
  ];

  it('replicates keys with ../, ./ and // under exactly those keys, creating no normalised ones', async () => {
    await mapConcurrent(dotKeys, 4, (key) => putObject(rt.s3, source, key, Buffer.from(`bytes of ${key}`)));
    await rt.drain(scaled(60_000));

    expect(await allKeys(source)).toEqual([...dotKeys].sort());
    expect(await allKeys(dr)).toEqual([...dotKeys].sort());
    const [src, copy] = await Promise.all([snapshots(rt.s3, source, dotKeys), snapshots(rt.s3, dr, dotKeys)]);
    expect(copy).toEqual(src);
  }, 90_000);

  it('dead-letters each hostile message after maxReceiveCount tries, writes nothing for it, and keeps going', async () => {
    const task = (fields: Partial<Task>): string =>
      encodeTaskBody({
        v: 1,
        bucket: source,
        key: 'x',
        eventName: 'ObjectCreated:Put',
        eventTime: new Date().toISOString(),
        ...fields,
      });
    await putObject(rt.s3, source, 'kept.txt', Buffer.from('kept'));
    await rt.drain(scaled(30_000));
    const before = await snapshots(rt.s3, dr, ['kept.txt']);
    const hostile = [
      'not json at all',
      '{"v":1,"bucket":"source-bucket","key":"trunc',
      JSON.stringify({
        v: 1,
        bucket: source,
        key: 'é'.repeat(513),
        eventName: 'ObjectCreated:Put',
        eventTime: new Date().toISOString(),
      }),
      task({ bucket: 'attacker-bucket', key: 'loot.txt' }),
      task({ bucket: dr, key: 'kept.txt' }),
      task({ key: '.s3dr/verify/source-bucket.json' }),
    ];
    await mapConcurrent(hostile, 4, (MessageBody) =>
      rt.sqs.send(new SendMessageCommand({ QueueUrl: rt.queueUrl, MessageBody })),
    );
    // A delete event for a key the source still holds is a lie the source's state refutes.
    await rt.sqs.send(
      new SendMessageCommand({
        QueueUrl: rt.queueUrl,
        MessageBody: task({ key: 'kept.txt', eventName: 'ObjectRemoved:Delete' }),
      }),
    );
    await putObject(rt.s3, source, 'after.txt', Buffer.from('after'));
    await rt.drain(scaled(180_000)); // two visibility timeouts, then the redrive

    expect(await dlqBodies()).toEqual([...hostile].sort());
    expect(await snapshots(rt.s3, dr, ['kept.txt'])).toEqual(before);
    expect(await allKeys(dr)).toEqual([...dotKeys, 'after.txt', 'kept.txt'].sort());
  }, 240_000);
});
