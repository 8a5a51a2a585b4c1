/**
 * Replicate under replication rules (S3DR_RULES). What S3 does that this relies on:
 * - GetObjectTagging of a key that does not exist answers 404 NoSuchKey (S3 API Reference,
 *   GetObjectTagging / "Error responses"): a deleted source is decided by its DR copy's tags.
 * - HEAD names the storage class for every class but S3 Standard: "Amazon S3 returns this header for all
 *   objects except for S3 Standard storage class objects" (S3 API Reference, HeadObject,
 *   x-amz-storage-class).
 * - A tag change is an `s3:ObjectTagging:*` event and changes neither ETag nor Last-Modified (see
 *   tests/unit/replicate-tags.test.ts): the rule is decided again from the source's tags at that event.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { aContext, anSqsEvent, aTask } from '../helpers/builders.ts';

process.env.S3DR_RULES = JSON.stringify([
  { id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false },
  { id: 'no-backup', filter: { tags: { backup: 'no' } }, replicate: false },
  {
    id: 'legal',
    filter: { tags: { retention: 'legal' } },
    drStorageClass: 'STANDARD',
    deletePolicy: 'retain',
  },
  { id: 'bulk', filter: {}, drStorageClass: 'GLACIER_IR' },
]);
const s3 = mockClient(S3Client);
const { handler } = await import('../../functions/replicate.ts');

const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
const noSuchKey = () =>
  new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
const tagSet = (tags: Record<string, string>) => ({
  TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});
const head = (extra: Record<string, unknown> = {}) => ({
  ETag: '"e1"',
  ContentLength: 1024,
  LastModified: new Date('2026-11-25T10:00:00Z'),
  Metadata: {},
  ...extra,
});
const sourceTags = (tags: Record<string, string>) =>
  s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).resolves(tagSet(tags));

describe('replicate under replication rules', () => {
  beforeEach(() => {
    s3.reset();
  });

  it('never touches S3 for a key under an excluded prefix', async () => {
    const result = await handler(anSqsEvent(aTask({ key: 'tmp/scratch.bin' })), aContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3.calls()).toHaveLength(0);
  });

  it('copies a fresh object in its rule’s storage class, after one GetObjectTagging', async () => {
    sourceTags({ team: 'blue' });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    s3.on(HeadObjectCommand).resolves(head());
    const result = await handler(anSqsEvent(aTask({ etag: 'e1' })), aContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(GetObjectTaggingCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'dr-bucket',
      Key: 'photos/cat.jpg',
      StorageClass: 'GLACIER_IR',
      CopySourceIfMatch: '"e1"',
    });
  });

  it('moves a key to its new rule on a tag change: the DR copy is rewritten in the new storage class', async () => {
    sourceTags({ retention: 'legal' });
    s3.on(HeadObjectCommand, { Bucket: 'source-bucket' }).resolves(head({ TagCount: 1 }));
    // The DR copy has the source's bytes, in the old rule's class (GLACIER_IR).
    s3.on(HeadObjectCommand, { Bucket: 'dr-bucket' }).resolves(
      head({ StorageClass: 'GLACIER_IR', TagCount: 0 }),
    );
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    const result = await handler(
      anSqsEvent(
        aTask({ eventName: 'ObjectTagging:Put', etag: 'e1', size: undefined, sequencer: undefined }),
      ),
      aContext(),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'dr-bucket',
      StorageClass: 'STANDARD',
      TaggingDirective: 'COPY',
    });
  });

  it('leaves a DR copy in its rule’s class alone (S3 Standard: HEAD names no class)', async () => {
    sourceTags({ retention: 'legal' });
    s3.on(HeadObjectCommand).resolves(head());
    await handler(
      anSqsEvent(aTask({ eventName: 'Verify:Repair', etag: 'e1', size: undefined, sequencer: undefined })),
      aContext(),
    );
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('keeps the DR copy’s bytes when a tag change excludes the key, giving it only the source’s tags', async () => {
    sourceTags({ backup: 'no' });
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({}));
    const result = await handler(
      anSqsEvent(
        aTask({ eventName: 'ObjectTagging:Put', etag: 'e1', size: undefined, sequencer: undefined }),
      ),
      aContext(),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    // The tags are what a later delete is decided by once the source is gone: excluded, so kept.
    expect(s3).toHaveReceivedCommandWith(PutObjectTaggingCommand, {
      Bucket: 'dr-bucket',
      Key: 'photos/cat.jpg',
      Tagging: tagSet({ backup: 'no' }),
    });
    expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('keeps an excluded key’s DR copy when its source is deleted: the DR tags still exclude it', async () => {
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).rejects(noSuchKey());
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({ backup: 'no' }));
    await handler(
      anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined, size: undefined })),
      aContext(),
    );
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
    expect(s3).not.toHaveReceivedCommand(PutObjectTaggingCommand);
    expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
  });

  it('applies the rule of the DR copy’s tags to a delete: a legal-hold key is retained, not deleted', async () => {
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).rejects(noSuchKey());
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({ retention: 'legal' }));
    s3.on(HeadObjectCommand, { Bucket: 'source-bucket' }).rejects(notFound());
    s3.on(HeadObjectCommand, { Bucket: 'dr-bucket' }).resolves(head());
    const result = await handler(
      anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined, size: undefined })),
      aContext(),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('mirrors a delete of a key under a mirror rule', async () => {
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).rejects(noSuchKey());
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({}));
    s3.on(HeadObjectCommand, { Bucket: 'source-bucket' }).rejects(notFound());
    s3.on(HeadObjectCommand, { Bucket: 'dr-bucket' }).resolves(head());
    s3.on(DeleteObjectCommand).resolves({});
    await handler(
      anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined, size: undefined })),
      aContext(),
    );
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: 'dr-bucket', Key: 'photos/cat.jpg' });
  });
});
