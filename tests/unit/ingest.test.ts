import { readFile } from 'node:fs/promises';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import type { Task } from '../../lib/core/task.ts';
import { decodeEventKey, eventNameOf } from '../../lib/ingest/notification.ts';
import { aContext, anS3Record } from '../helpers/builders.ts';

const sqs = mockClient(SQSClient);
const { handler } = await import('../../functions/ingest.ts');

const fixture = async (name: string) =>
  JSON.parse(await readFile(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
const sentTasks = (): Task[] =>
  sqs
    .commandCalls(SendMessageBatchCommand)
    .flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => JSON.parse(e.MessageBody ?? '') as Task);

describe('ingest', () => {
  beforeEach(() => {
    sqs.reset();
    sqs.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.map((e: { Id: string }) => ({
        Id: e.Id,
        MessageId: `m-${e.Id}`,
        MD5OfMessageBody: 'x',
      })),
      Failed: [],
    }));
  });

  it('turns the sample put notification into one task with the decoded key and its ETag', async () => {
    await handler(await fixture('s3-put.json'), aContext());
    expect(sentTasks()).toEqual([
      {
        v: 1,
        bucket: 'source-bucket',
        key: 'photos/2026/a b+c été.jpg',
        eventName: 'ObjectCreated:Put',
        eventTime: '2026-11-25T10:15:30.123Z',
        sequencer: '0067440F4A9BC18C4E',
        size: 1024,
        etag: 'd41d8cd98f00b204e9800998ecf8427e',
      },
    ]);
  });

  it('queues delete notifications too, without size or ETag', async () => {
    await handler(await fixture('s3-delete.json'), aContext());
    expect(sentTasks()).toEqual([
      expect.objectContaining({ eventName: 'ObjectRemoved:Delete', key: 'photos/2026/a b+c été.jpg' }),
    ]);
    expect(sentTasks()[0]).not.toHaveProperty('etag');
  });

  // Tag changes are their own event types, s3:ObjectTagging:Put and :Delete (User Guide, "Event
  // notification types and destinations"), sent in event structure 2.3; the sequencer is "only used
  // with PUTs and DELETEs" (User Guide, "Event message structure"), so a tagging record has none.
  it('queues tag changes (ObjectTagging:Put/Delete), which carry no size or sequencer', async () => {
    const put = await fixture('s3-tagging-put.json');
    const deleted = structuredClone(put);
    deleted.Records[0].eventName = 'ObjectTagging:Delete';
    await handler({ Records: [...put.Records, ...deleted.Records] }, aContext());
    expect(sentTasks()).toEqual([
      {
        v: 1,
        bucket: 'source-bucket',
        key: 'photos/2026/a b+c été.jpg',
        eventName: 'ObjectTagging:Put',
        eventTime: '2026-11-25T11:02:04.512Z',
        versionId: '3HL4kqtJvjVBH40Nrjfkd',
        etag: 'd41d8cd98f00b204e9800998ecf8427e',
      },
      expect.objectContaining({ eventName: 'ObjectTagging:Delete', key: 'photos/2026/a b+c été.jpg' }),
    ]);
  });

  it.each([
    ['a+b.txt', 'a b.txt'],
    ['a%2Bb.txt', 'a+b.txt'],
    ['100%25+done%3D%26.txt', '100% done=&.txt'],
    ['%F0%9F%93%B7/%E5%86%99%E7%9C%9F.png', '📷/写真.png'],
    ['deep/nested/prefix/x.bin', 'deep/nested/prefix/x.bin'],
  ])('decodes the event key %s as %s', (raw, expected) => {
    expect(decodeEventKey(raw)).toBe(expected);
  });

  it('sends records in batches of ten', async () => {
    const records = Array.from({ length: 23 }, (_, i) => anS3Record({ key: `k/${i}`, size: 1, eTag: 'e' }));
    await handler({ Records: records }, aContext());
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    expect(new Set(sentTasks().map((t) => t.key)).size).toBe(23);
  });

  it('drops s3:TestEvent with no message sent', async () => {
    const result = await handler(await fixture('s3-test-event.json'), aContext());
    expect(result).toEqual({ queued: 0, ignored: 1 });
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('ignores records of buckets that are not configured and event names it does not replicate', async () => {
    const result = await handler(
      {
        Records: [
          anS3Record({ bucket: 'someone-elses-bucket', key: 'x' }),
          anS3Record({ eventName: 'ObjectAcl:Put', key: 'y' }),
          anS3Record({ eventName: 'LifecycleExpiration:DeleteMarkerCreated', key: 'z' }),
          anS3Record({ eventName: 'ObjectRemoved:DeleteMarkerCreated', key: 'w' }),
        ],
      },
      aContext(),
    );
    expect(result).toEqual({ queued: 2, ignored: 2 });
    expect(sentTasks().map((t) => t.key)).toEqual(['z', 'w']);
  });

  // S3 User Guide, "Event notification types and destinations": s3:ObjectRestore:Completed is sent when a
  // restored copy of an archived object is readable; :Post when the restore starts, :Delete when the
  // restored copy expires. Only the first can be acted on (replicate copies the restored object).
  it('queues ObjectRestore:Completed (thawed sources) and ignores restore started or expired', async () => {
    const completed = await handler(await fixture('s3-restore-completed.json'), aContext());
    expect(completed).toEqual({ queued: 1, ignored: 0 });
    expect(sentTasks()).toEqual([
      {
        v: 1,
        bucket: 'source-bucket',
        key: 'archive/2019/ledger.csv',
        eventName: 'ObjectRestore:Completed',
        eventTime: '2026-11-26T03:12:45.678Z',
        sequencer: '0067450A1B2C3D4E5F',
        size: 2048,
        etag: '9e107d9d372bb6826bd81d3542a419d6',
      },
    ]);
    const others = await handler(
      {
        Records: [
          anS3Record({ eventName: 'ObjectRestore:Post', key: 'a' }),
          anS3Record({ eventName: 'ObjectRestore:Delete', key: 'b' }),
        ],
      },
      aContext(),
    );
    expect(others).toEqual({ queued: 0, ignored: 2 });
  });

  it('retries entries SQS reports as failed and succeeds when they go through', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: '0', MessageId: 'a', MD5OfMessageBody: 'x' }],
        Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }],
      })
      .resolves({ Successful: [{ Id: '1', MessageId: 'b', MD5OfMessageBody: 'x' }], Failed: [] });
    await handler({ Records: [anS3Record({ key: 'a' }), anS3Record({ key: 'b' })] }, aContext());
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.args[0].input.Entries?.map((e) => JSON.parse(e.MessageBody ?? '').key)).toEqual(['b']);
  });

  it('fails the invocation when entries still fail, so Lambda retries and then dead-letters the event', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [], Failed: [{ Id: '0', Code: 'KmsThrottled', SenderFault: false }] });
    await expect(handler({ Records: [anS3Record({ key: 'a' })] }, aContext())).rejects.toThrow(
      /1 of 1 tasks could not be queued after 4 attempts: KmsThrottled/,
    );
  });

  it('queues the good records and then fails naming the malformed one', async () => {
    const records = [
      anS3Record({ key: 'good' }),
      { eventName: 'ObjectCreated:Put', s3: {} },
      anS3Record({ rawKey: '%E0%A4%A' }),
    ];
    await expect(handler({ Records: records }, aContext())).rejects.toThrow(
      /2 notification record\(s\) are malformed \(the 1 good ones were queued\): record 1 is not an S3 notification record.*record 2: key is not URL-encoded/,
    );
    expect(sentTasks().map((t) => t.key)).toEqual(['good']);
  });

  it('rejects a payload that is not an S3 notification at all', async () => {
    await expect(handler({ hello: 'world' }, aContext())).rejects.toThrow(/not an S3 notification/);
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('writes keys with emoji and control characters as ASCII-only bodies that decode to the exact key', async () => {
    const key = 'odd/\u0001tab\there 📷 \ufffd.txt';
    await handler({ Records: [anS3Record({ key })] }, aContext());
    const body = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.[0]?.MessageBody ?? '';
    expect(body).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(body).key).toBe(key);
  });

  it('refuses a key longer than 1,024 bytes as a malformed record', async () => {
    await expect(handler({ Records: [anS3Record({ key: 'k'.repeat(1025) })] }, aContext())).rejects.toThrow(
      /key must be at most 1024 UTF-8 bytes/,
    );
  });
});

/**
 * eventSource: eventbridge. S3 User Guide, "EventBridge event message structure"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): one event per invocation,
 * `detail-type` "Object Created" / "Object Deleted" / …, `detail.object.key`, `etag`, `version-id`,
 * `reason`, `deletion-type`. The key is URL-encoded as in notifications: Powertools for AWS Lambda
 * (Python) decodes `S3EventBridgeNotificationObject.key` with `unquote_plus`.
 */
describe('ingest, EventBridge events', () => {
  beforeEach(() => {
    sqs.reset();
    sqs.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.map((e: { Id: string }) => ({
        Id: e.Id,
        MessageId: 'm',
        MD5OfMessageBody: 'x',
      })),
      Failed: [],
    }));
  });

  it('makes the same task from an Object Created event as from the put notification (key URL-decoded)', async () => {
    await handler(await fixture('eventbridge-object-created.json'), aContext());
    await handler(await fixture('s3-put.json'), aContext());
    const [fromEventBridge, fromNotification] = sentTasks();
    expect(fromEventBridge).toEqual({
      v: 1,
      bucket: 'source-bucket',
      key: 'photos/2026/a b+c été.jpg',
      eventName: 'ObjectCreated:Put',
      eventTime: '2026-11-25T10:15:30Z',
      sequencer: '0067440F4A9BC18C4E',
      size: 1024,
      etag: 'd41d8cd98f00b204e9800998ecf8427e',
    });
    expect({ ...fromEventBridge, eventTime: '' }).toEqual({ ...fromNotification, eventTime: '' });
  });

  it('queues an Object Deleted event as the delete-marker removal it reports, with its version id', async () => {
    await handler(await fixture('eventbridge-object-deleted.json'), aContext());
    expect(sentTasks()).toEqual([
      {
        v: 1,
        bucket: 'source-bucket',
        key: 'photos/2026/a b+c été.jpg',
        eventName: 'ObjectRemoved:DeleteMarkerCreated',
        eventTime: '2026-11-25T10:16:02Z',
        sequencer: '0067440F6C1A2B3C4D',
        versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
      },
    ]);
  });

  it.each([
    ['Object Created', { reason: 'PutObject' }, 'ObjectCreated:Put'],
    ['Object Created', { reason: 'POST Object' }, 'ObjectCreated:Post'],
    ['Object Created', { reason: 'CopyObject' }, 'ObjectCreated:Copy'],
    ['Object Created', { reason: 'CompleteMultipartUpload' }, 'ObjectCreated:CompleteMultipartUpload'],
    [
      'Object Deleted',
      { reason: 'DeleteObject', 'deletion-type': 'Permanently Deleted' },
      'ObjectRemoved:Delete',
    ],
    [
      'Object Deleted',
      { reason: 'Lifecycle Expiration', 'deletion-type': 'Permanently Deleted' },
      'LifecycleExpiration:Delete',
    ],
    [
      'Object Deleted',
      { reason: 'Lifecycle Expiration', 'deletion-type': 'Delete Marker Created' },
      'LifecycleExpiration:DeleteMarkerCreated',
    ],
    ['Object Tags Added', {}, 'ObjectTagging:Put'],
    ['Object Tags Deleted', {}, 'ObjectTagging:Delete'],
    ['Object Restore Completed', {}, 'ObjectRestore:Completed'],
  ])('names the EventBridge %s event (%j) as the notification %s', (detailType, detail, expected) => {
    expect(eventNameOf(detailType, detail)).toBe(expected);
  });

  it('ignores detail-types and buckets it does not replicate, and rejects an S3 event without a key', async () => {
    const event = await fixture('eventbridge-object-created.json');
    expect(await handler({ ...event, 'detail-type': 'Object ACL Updated' }, aContext())).toEqual({
      queued: 0,
      ignored: 1,
    });
    const other = { ...event, detail: { ...event.detail, bucket: { name: 'someone-elses-bucket' } } };
    expect(await handler(other, aContext())).toEqual({ queued: 0, ignored: 1 });
    const keyless = { ...event, detail: { ...event.detail, object: { size: 1 } } };
    await expect(handler(keyless, aContext())).rejects.toThrow(
      /1 notification record\(s\) are malformed.*detail\.object\.key/,
    );
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });
});
