/**
 * Tag-only changes reach DR (copyTags on). What S3 does that this relies on:
 * - A tag change is notified as `s3:ObjectTagging:Put` ("a tag is PUT on an object or an existing tag is
 *   updated") or `s3:ObjectTagging:Delete` ("a tag is removed from an object") (User Guide, "Event
 *   notification types and destinations",
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html).
 * - It changes neither the ETag ("The ETag reflects changes only to the contents of an object, not its
 *   metadata", S3 API reference, data type Object) nor Last-Modified (minio/minio#20299, checked on AWS):
 *   a DR copy with the right bytes and metadata can still have stale tags.
 * - HEAD returns the number of tags in `x-amz-tagging-count` (TagCount), "if any" — absent for none
 *   (S3 API reference, HeadObject).
 * - PutObjectTagging replaces the whole tag set; DeleteObjectTagging removes it and, unlike a
 *   PutObjectTagging with an empty set, is not charged (User Guide, "Categorizing your storage using
 *   tags", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html).
 */
import {
  CopyObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { systemClock } from '../../lib/core/ports.ts';
import {
  type ReplicateDeps,
  type ReplicateSettings,
  replicateKey,
} from '../../lib/replicate/replicate-key.ts';
import { aContext, anSqsEvent, aTask } from '../helpers/builders.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentLog } from '../helpers/telemetry.ts';

const s3 = mockClient(S3Client);
const { handler } = await import('../../functions/replicate.ts');

const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
const head = (extra: Record<string, unknown> = {}) => ({
  ETag: '"e1"',
  ContentLength: 1024,
  LastModified: new Date('2026-11-25T10:00:00Z'),
  Metadata: { owner: 'alice' },
  ContentType: 'image/jpeg',
  ...extra,
});
/** HEADs of the source and the DR copy: same bytes and metadata; tag counts as given (S3 omits 0). */
function onHeads(src: Record<string, unknown>, dr: Record<string, unknown>) {
  s3.on(HeadObjectCommand).callsFake((input: { Bucket: string }) => {
    if (input.Bucket === 'source-bucket') return head(src);
    if (input.Bucket === 'dr-bucket') return head({ VersionId: 'dr-v7', ...dr });
    throw notFound();
  });
}
const tagSet = (tags: Record<string, string>) => ({
  TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});
const replicate = (eventName: string) =>
  handler(anSqsEvent(aTask({ eventName, etag: 'e1', sequencer: undefined, size: undefined })), aContext());

describe('replicate: tag-only changes (copyTags on)', () => {
  beforeEach(() => {
    s3.reset();
  });

  it('writes the source tags on the DR copy with PutObjectTagging, pinned to the DR version, without copying bytes', async () => {
    onHeads({ TagCount: 2 }, { TagCount: 1 });
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).resolves(
      tagSet({ team: 'blue', stage: 'final' }),
    );
    const result = await replicate('ObjectTagging:Put');
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    // Counts differ: DR's tags need not be read.
    expect(s3).not.toHaveReceivedCommandWith(GetObjectTaggingCommand, { Bucket: 'dr-bucket' });
    expect(s3).toHaveReceivedCommandTimes(PutObjectTaggingCommand, 1);
    expect(s3).toHaveReceivedCommandWith(PutObjectTaggingCommand, {
      Bucket: 'dr-bucket',
      Key: 'photos/cat.jpg',
      VersionId: 'dr-v7',
      Tagging: tagSet({ team: 'blue', stage: 'final' }),
    });
    // Read once to write, once more to confirm nothing newer was overwritten.
    expect(s3).toHaveReceivedCommandTimes(GetObjectTaggingCommand, 2);
  });

  it('removes the DR tags with DeleteObjectTagging (not charged) when the source has none left', async () => {
    onHeads({}, { TagCount: 2 });
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).resolves({ TagSet: [] });
    await replicate('ObjectTagging:Delete');
    expect(s3).toHaveReceivedCommandWith(DeleteObjectTaggingCommand, {
      Bucket: 'dr-bucket',
      Key: 'photos/cat.jpg',
      VersionId: 'dr-v7',
    });
    expect(s3).not.toHaveReceivedCommand(PutObjectTaggingCommand);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('compares equal, non-zero counts tag by tag on a tagging event, and writes what differs', async () => {
    onHeads({ TagCount: 1 }, { TagCount: 1 });
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' }).resolves(tagSet({ stage: 'final' }));
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({ stage: 'raw' }));
    await replicate('ObjectTagging:Put');
    expect(s3).toHaveReceivedCommandWith(GetObjectTaggingCommand, {
      Bucket: 'dr-bucket',
      VersionId: 'dr-v7',
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectTaggingCommand, { Tagging: tagSet({ stage: 'final' }) });
  });

  it('skips when the tag sets are the same (a duplicate tagging event costs two HEADs and two GETs)', async () => {
    onHeads({ TagCount: 2 }, { TagCount: 2 });
    s3.on(GetObjectTaggingCommand).resolves(tagSet({ a: '1', b: '2' }));
    s3.on(GetObjectTaggingCommand, { Bucket: 'dr-bucket' }).resolves(tagSet({ b: '2', a: '1' }));
    await replicate('ObjectTagging:Put');
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 2);
    expect(s3).toHaveReceivedCommandTimes(GetObjectTaggingCommand, 2);
    expect(s3).not.toHaveReceivedCommand(PutObjectTaggingCommand);
  });

  it('makes no tagging request when neither side has tags (the HEADs say so)', async () => {
    onHeads({}, {});
    await replicate('ObjectTagging:Delete');
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 2);
    expect(s3).not.toHaveReceivedCommand(GetObjectTaggingCommand);
    expect(s3).not.toHaveReceivedCommand(PutObjectTaggingCommand);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectTaggingCommand);
  });

  it('trusts equal counts for an event that is not about tags (a tag change has its own event)', async () => {
    onHeads({ TagCount: 1, ETag: '"abc-2"' }, { TagCount: 1, ETag: '"abc-2"' });
    await handler(
      anSqsEvent(aTask({ eventName: 'ObjectCreated:CompleteMultipartUpload', etag: 'abc-2' })),
      aContext(),
    );
    expect(s3).not.toHaveReceivedCommand(GetObjectTaggingCommand);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('writes again when the source tags changed after they were read (the later set wins)', async () => {
    onHeads({ TagCount: 1 }, {});
    s3.on(GetObjectTaggingCommand, { Bucket: 'source-bucket' })
      .resolvesOnce(tagSet({ stage: 'raw' }))
      .resolves(tagSet({ stage: 'final' }));
    await replicate('ObjectTagging:Put');
    expect(s3).toHaveReceivedCommandTimes(PutObjectTaggingCommand, 2);
    expect(s3).toHaveReceivedNthSpecificCommandWith(2, PutObjectTaggingCommand, {
      Tagging: tagSet({ stage: 'final' }),
    });
  });
});

describe('replicateKey: tags against an in-memory S3', () => {
  const settings = (copyTags: boolean): ReplicateSettings => ({
    deletePolicy: 'mirror',
    keyLayout: 'flat',
    drStorageClass: 'STANDARD',
    drKmsKeyId: undefined,
    copyTags,
    multipartThreshold: 5 * 1024 * 1024,
    partSize: 5 * 1024 * 1024,
    partConcurrency: 2,
    safetyMarginMs: 1,
  });
  const setup = (copyTags: boolean) => {
    const world = new MemoryWorld();
    const source = world.bucket('source-bucket');
    const dr = world.bucket('dr-bucket', { versioned: true });
    const deps: ReplicateDeps = {
      source,
      dr,
      clock: systemClock(),
      settings: settings(copyTags),
      log: silentLog,
    };
    return { world, source, dr, deps };
  };
  const tagTask = (key: string) => aTask({ key, eventName: 'ObjectTagging:Put', sequencer: undefined });

  it('leaves DR tags alone when copyTags is off (tags are replicated only with copyTags)', async () => {
    const { source, dr, deps } = setup(false);
    source.put('k', 'bytes', { tags: { stage: 'raw' } });
    await replicateKey(aTask({ key: 'k', eventName: 'Verify:Repair', etag: undefined }), deps);
    source.setTags('k', { stage: 'final' });
    const outcome = await replicateKey(tagTask('k'), deps);
    expect(outcome.kind).toBe('skipped');
    expect(dr.objects.get('k')?.tags).toEqual({});
  });

  it('a stale tagging task that writes last still leaves the newest source tags on DR', async () => {
    const { world, source, dr, deps } = setup(true);
    source.put('k', 'bytes', { tags: { stage: 'raw' } });
    await replicateKey(aTask({ key: 'k', eventName: 'Verify:Repair', etag: undefined }), deps);
    const bytesEtag = dr.objects.get('k')?.etag;
    source.setTags('k', { stage: 'checked' });
    // The first task reads {stage: checked}; before it writes, the source moves on to {stage: final}
    // and a second task replicates that completely; then the first one writes its older set.
    let raced = false;
    world.beforeOp = async (op) => {
      if (raced || op.op !== 'putTags') return;
      raced = true;
      source.setTags('k', { stage: 'final' });
      await replicateKey(tagTask('k'), deps);
      expect(dr.objects.get('k')?.tags).toEqual({ stage: 'final' });
    };
    const outcome = await replicateKey(tagTask('k'), deps);
    expect(raced).toBe(true);
    expect(outcome).toMatchObject({ kind: 'tagged', tags: 1 });
    expect(dr.objects.get('k')?.tags).toEqual({ stage: 'final' });
    // Tags only: the DR bytes were never copied again.
    expect(dr.objects.get('k')?.etag).toBe(bytesEtag);
    expect(dr.history.filter((v) => v.key === 'k')).toHaveLength(1);
  });
});
