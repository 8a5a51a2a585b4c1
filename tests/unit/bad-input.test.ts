/**
 * Malformed, truncated, oversized and hostile input to every handler. Each bad input gets an error that
 * names the problem; a bad record fails alone (the good records of the same notification or batch still
 * go through); nothing is written for it; no handler throws on a record-level problem (a crash would
 * make Lambda retry the whole batch, again and again).
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidPayloadError } from '../../lib/core/errors.ts';
import { systemClock } from '../../lib/core/ports.ts';
import { InvalidTaskBodyError, parseTask, type Task } from '../../lib/core/task.ts';
import type { ReplicateSettings } from '../../lib/replicate/replicate-key.ts';
import { replicateBatch } from '../helpers/batches.ts';
import { aContext, anS3Record, anSqsEvent, aTask } from '../helpers/builders.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { logWith, noMetrics, noOutcomes } from '../helpers/telemetry.ts';

const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);
const ingest = (await import('../../functions/ingest.ts')).handler;
const replicate = (await import('../../functions/replicate.ts')).handler;
const restore = (await import('../../functions/restore.ts')).handler;
const verify = (await import('../../functions/verify.ts')).handler;

const WRITES = [
  PutObjectCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  RestoreObjectCommand,
] as const;

const sentTasks = (): Task[] =>
  sqs
    .commandCalls(SendMessageBatchCommand)
    .flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => JSON.parse(e.MessageBody ?? '') as Task);

/** A key of exactly `bytes` UTF-8 bytes (multi-byte characters, so bytes and characters differ). */
const keyOfBytes = (bytes: number) => 'é'.repeat(Math.floor(bytes / 2)) + 'k'.repeat(bytes % 2);

beforeEach(() => {
  s3.reset();
  sqs.reset();
  sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
    Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: 'x' })),
    Failed: [],
  }));
});

describe('ingest with bad input', () => {
  it.each([
    ['a JSON string instead of an event', '{"Records":[]}'],
    ['null', null],
    ['a number', 42],
    ['an array', [anS3Record({})]],
    ['Records that is not a list', { Records: 'everything' }],
    ['Records that is null', { Records: null }],
    ['another service’s test event', { Event: 's3:TestEvent2', Bucket: 'source-bucket' }],
  ])('rejects %s as not an S3 notification, queueing nothing', async (_what, event) => {
    await expect(ingest(event, aContext())).rejects.toThrow(
      new InvalidPayloadError(
        'event is not an S3 notification: it has neither Records, nor Event=s3:TestEvent, nor source=aws.s3 (EventBridge)',
      ),
    );
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  const good = anS3Record({ key: 'good.txt', eTag: 'e1', size: 3 });
  const object = (fields: Record<string, unknown>) => ({
    ...good,
    s3: { ...good.s3, object: { ...good.s3.object, ...fields } },
  });
  it.each([
    [
      'a record without s3',
      { eventName: 'ObjectCreated:Put', eventTime: good.eventTime },
      /record 1 is not an S3 notification record: s3: /,
    ],
    ['a key that is a number', object({ key: 42 }), /record 1 .*s3\.object\.key: /],
    ['an empty key', object({ key: '' }), /record 1 .*s3\.object\.key: /],
    ['a size that is a string', object({ size: '3' }), /record 1 .*s3\.object\.size: /],
    ['a negative size', object({ size: -1 }), /record 1 .*s3\.object\.size: /],
    ['an eventName that is a number', { ...good, eventName: 7 }, /record 1 .*eventName: /],
    ['an eventTime that is not a date', { ...good, eventTime: 'yesterday' }, /record 1 .*eventTime: /],
    [
      'a key of 1,025 bytes',
      object({ key: encodeURIComponent(keyOfBytes(1025)) }),
      /record 1 .*key: key must be at most 1024 UTF-8 bytes/,
    ],
    [
      'a 100 KB key',
      object({ key: 'k'.repeat(100_000) }),
      /record 1 .*key: key must be at most 1024 UTF-8 bytes/,
    ],
    [
      'a key with broken URL encoding',
      object({ key: 'bad%E0%A4%A' }),
      /record 1: key is not URL-encoded correctly/,
    ],
  ])(
    'fails on %s, naming it, after queueing the good record of the same notification',
    async (_what, bad, message) => {
      const error = await ingest({ Records: [good, bad] }, aContext()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidPayloadError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toMatch(
        /^1 notification record\(s\) are malformed \(the 1 good ones were queued\)/,
      );
      expect(sentTasks().map((t) => t.key)).toEqual(['good.txt']);
    },
  );

  // ObjectTagging:* is replicated (tag-only changes): see ingest.test.ts.
  it.each([
    'ObjectAcl:Put',
    // ObjectRestore:Completed is a task (a thawed archived source); restore started/expired are not.
    'ObjectRestore:Post',
    'ObjectRestore:Delete',
    'Replication:OperationFailedReplication',
    'IntelligentTiering',
    'LifecycleTransition',
    'ObjectCreated-but-not-really',
  ])('ignores the unknown event %s with a reason, and still queues the good record', async (eventName) => {
    const result = await ingest({ Records: [good, { ...good, eventName }] }, aContext());
    expect(result).toEqual({ queued: 1, ignored: 1 });
    expect(sentTasks()).toHaveLength(1);
  });

  it('ignores records of the DR bucket and of foreign buckets, so nothing can make replication loop', async () => {
    const result = await ingest(
      { Records: [anS3Record({ bucket: 'dr-bucket' }), anS3Record({ bucket: 'attacker-bucket' }), good] },
      aContext(),
    );
    expect(result).toEqual({ queued: 1, ignored: 2 });
    expect(sentTasks().map((t) => t.bucket)).toEqual(['source-bucket']);
  });

  it.each(['../../etc/passwd', 'a/./b/../c', '//double//slash/', '..'])(
    'queues the key %s exactly as written (S3 keys are not paths; nothing is normalised)',
    async (key) => {
      await ingest({ Records: [anS3Record({ key })] }, aContext());
      expect(sentTasks().map((t) => t.key)).toEqual([key]);
    },
  );

  it('queues a notification of 2,000 records in batches of ten without failing', async () => {
    const records = Array.from({ length: 2000 }, (_, i) =>
      anS3Record({ key: `bulk/${i}`, eTag: 'e', size: 1 }),
    );
    await expect(ingest({ Records: records }, aContext())).resolves.toEqual({ queued: 2000, ignored: 0 });
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 200);
  });
});

describe('replicate with bad input', () => {
  const body = (fields: Record<string, unknown>) => JSON.stringify({ ...aTask({ key: 'x' }), ...fields });
  const hostile: [string, string, RegExp][] = [
    ['not JSON', 'not json', /message body is not JSON/],
    ['truncated JSON', '{"v":1,"bucket":"source-bucket","key":"a', /message body is not JSON/],
    ['an empty body', '', /message body is not JSON/],
    ['JSON null', 'null', /not a replication task: body: /],
    ['a JSON array', '[1,2]', /not a replication task: body: /],
    ['a task without a key', JSON.stringify({ ...aTask(), key: undefined }), /not a replication task: key: /],
    ['an empty key', body({ key: '' }), /key: key must not be empty/],
    ['a key of 1,025 bytes', body({ key: keyOfBytes(1025) }), /key: key must be at most 1024 UTF-8 bytes/],
    ['a size that is a string', body({ size: 'big' }), /size: /],
    ['a future version of the task format', body({ v: 2 }), /v: /],
    ['an eventTime that is not a date', body({ eventTime: 'yesterday' }), /eventTime: /],
    ['an unknown field', body({ command: 'rm -rf /' }), /not a replication task: .*command/],
    ['a 300 KB body', body({ padding: 'p'.repeat(300_000) }), /not a replication task: .*padding/],
    [
      'a bucket that is not a source',
      body({ bucket: 'attacker-bucket' }),
      /bucket attacker-bucket is not a configured source bucket/,
    ],
    [
      'the DR bucket as the source',
      body({ bucket: 'dr-bucket' }),
      /bucket dr-bucket is not a configured source bucket/,
    ],
    [
      'a key in the reserved .s3dr/ prefix',
      body({ key: '.s3dr/verify/source-bucket.json' }),
      /maps into the reserved DR prefix \.s3dr\//,
    ],
  ];

  function harness() {
    const world = new MemoryWorld();
    const source = world.bucket('source-bucket');
    const dr = world.bucket('dr-bucket', { versioned: true });
    source.put('good/one.txt', 'one');
    source.put('../escape.txt', 'two');
    source.put('x', 'exists');
    const errors: {
      message: string;
      extra: { messageId?: string; error?: { name: string; message: string } };
    }[] = [];
    const logger = logWith({
      error: (message: string, extra?: Record<string, unknown>) =>
        void errors.push({ message, extra: (extra ?? {}) as (typeof errors)[number]['extra'] }),
    });
    const settings: ReplicateSettings = {
      deletePolicy: 'mirror',
      keyLayout: 'flat',
      drStorageClass: 'STANDARD',
      drKmsKeyId: undefined,
      copyTags: false,
      multipartThreshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
      partConcurrency: 2,
      safetyMarginMs: 0,
    };
    const deps = {
      sourceStore: (bucket: string) => (bucket === 'source-bucket' ? source : undefined),
      dr,
      clock: systemClock(),
      settings,
      logger,
      metrics: noMetrics,
      outcomes: noOutcomes,
    };
    return { world, source, dr, errors, deps };
  }

  it('fails each hostile record alone with a logged error naming its problem; the good ones are copied', async () => {
    const h = harness();
    const goodTasks = [
      aTask({ key: 'good/one.txt', etag: h.source.objects.get('good/one.txt')!.etag, size: 3 }),
      aTask({ key: '../escape.txt', etag: h.source.objects.get('../escape.txt')!.etag, size: 3 }),
    ];
    const event = anSqsEvent(goodTasks[0]!, ...hostile.map(([, b]) => b), goodTasks[1]!);

    const result = await replicateBatch(event, aContext(), h.deps);

    const bad = event.Records.slice(1, -1).map((r) => r.messageId);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([...bad].sort());
    for (const [i, [what, , message]] of hostile.entries()) {
      const logged = h.errors.find((e) => e.extra.messageId === bad[i]);
      expect({ what, error: logged?.extra.error?.message }).toEqual({
        what,
        error: expect.stringMatching(message),
      });
    }
    // Only the good keys were copied, under exactly their own keys; no store call touched anything else.
    expect([...h.dr.objects.keys()].sort()).toEqual(['../escape.txt', 'good/one.txt']);
    expect(new Set(h.world.log.map((op) => op.key))).toEqual(new Set(['good/one.txt', '../escape.txt']));
  });

  const refusedLater = new Set([
    'a bucket that is not a source',
    'the DR bucket as the source',
    'a key in the reserved .s3dr/ prefix',
  ]);
  it.each(hostile.filter(([what]) => !refusedLater.has(what)))(
    'refuses %s as a task body, naming the problem (InvalidTaskBodyError)',
    (_what, raw, message) => {
      expect(() => parseTask(raw)).toThrow(InvalidTaskBodyError);
      expect(() => parseTask(raw)).toThrow(message);
    },
  );

  it('cannot be made to delete a DR copy by a delete event for a key the source still holds', async () => {
    const h = harness();
    h.dr.put('x', 'exists');
    const lie = aTask({ key: 'x', eventName: 'ObjectRemoved:Delete', etag: undefined, size: undefined });
    const result = await replicateBatch(anSqsEvent(lie), aContext(), h.deps);
    expect(result.batchItemFailures).toEqual([]);
    expect(h.dr.objects.get('x')?.body.toString()).toBe('exists');
    expect(h.dr.history.filter((v) => v.deleteMarker)).toEqual([]);
  });

  it('cannot be made to copy other bytes by a create event carrying a false ETag and size', async () => {
    const h = harness();
    const lie = aTask({ key: 'x', etag: '0'.repeat(32), size: 999_999_999 });
    await replicateBatch(anSqsEvent(lie), aContext(), h.deps);
    expect(h.dr.objects.get('x')?.etag).toBe(h.source.objects.get('x')?.etag);
  });

  it.each([
    ['an event without Records', {}],
    ['Records that is not a list', { Records: 'x' }],
  ])('rejects %s (not an SQS event) without touching S3', async (_what, event) => {
    await expect(replicate(event as never, aContext())).rejects.toThrow(/Unexpected batch type/);
    expect(s3).not.toHaveReceivedAnyCommand();
  });
});

describe('restore with bad input', () => {
  it.each([
    ['text that is not JSON', '{"prefix": ', /not JSON/],
    ['a number', 42, /must be a JSON object/],
    ['a list', ['a.txt'], /must be a JSON object/],
    ['a "../" prefix', { prefix: '../' }, /prefix: must not contain "\." or "\.\." path segments/],
    [
      'a "../" key',
      { keys: ['photos/../../etc/passwd'] },
      /keys\.0: must not contain "\." or "\.\." path segments/,
    ],
    ['a key of 1,025 bytes', { keys: [keyOfBytes(1025)] }, /keys\.0: must be at most 1024 UTF-8 bytes/],
    [
      'a key in .s3dr/',
      { keys: ['.s3dr/verify/source-bucket.json'] },
      /keys\.0: must not start with \.s3dr\//,
    ],
    ['dryRun as a string', { prefix: '', dryRun: 'false' }, /dryRun: must be true or false/],
    ['an unknown option', { prefix: '', overwite: 'always' }, /overwite: is not a restore option/],
    [
      'a target bucket that is not a bucket name',
      { prefix: '', target: { bucket: '../other' } },
      /target\.bucket: /,
    ],
    [
      'a "../" target prefix',
      { prefix: '', target: { bucket: 'restore-target', prefix: 'x/../../' } },
      /target\.prefix: /,
    ],
    ['an impossible date', { prefix: '', asOf: '2026-02-30T10:00:00Z' }, /asOf: /],
    ['a negative maxObjects', { prefix: '', maxObjects: -1 }, /maxObjects: /],
    ['neither keys nor prefix', {}, /keys: or prefix is required/],
  ])('refuses %s, naming the field, before any S3 request', async (_what, payload, message) => {
    await expect(restore(payload, aContext())).rejects.toThrow(message);
    expect(s3).not.toHaveReceivedAnyCommand();
  });

  it('refuses a real restore into a bucket off the allow-list and writes nothing', async () => {
    await expect(
      restore({ prefix: '', dryRun: false, target: { bucket: 'attacker-bucket' } }, aContext()),
    ).rejects.toThrow(/attacker-bucket/);
    const writes = s3.calls().filter((call) => WRITES.some((command) => call.args[0] instanceof command));
    expect(writes).toEqual([]);
  });
});

describe('verify with bad input', () => {
  it.each([
    ['text that is not JSON', 'repair=true', /not JSON/],
    ['a number', 42, /must be a JSON object/],
    ['repair as a string', { repair: 'yes' }, /repair: must be true or false/],
    ['a prefix of 1,025 bytes', { prefix: keyOfBytes(1025) }, /prefix: must be at most 1024 UTF-8 bytes/],
    [
      'a bucket that is not protected',
      { source: 'attacker-bucket' },
      /source: "attacker-bucket" is not a protected source bucket/,
    ],
    ['a deep rate above 1', { deep: 2 }, /deep: /],
    ['a negative grace period', { graceSeconds: -1 }, /graceSeconds: /],
    ['an unknown option', { repiar: false }, /repiar: is not a verify option/],
  ])('refuses %s, naming the field, before any S3 or SQS request', async (_what, payload, message) => {
    await expect(verify(payload, aContext())).rejects.toThrow(message);
    expect(s3).not.toHaveReceivedAnyCommand();
    expect(sqs).not.toHaveReceivedAnyCommand();
  });
});
