import { readFile } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { logger, metrics, outcomes } from '../../lib/aws/observability.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import type { ReplicateSettings } from '../../lib/replicate/replicate-key.ts';
import { replicateBatch } from '../helpers/batches.ts';
import { aContext, anSqsEvent, aTask } from '../helpers/builders.ts';
import { bareBadRequest, invalidObjectState, sseCustomerKeyRequired } from '../helpers/s3-errors.ts';
import { md5Hex, md5OfMd5s, stubEncryptedMultipartCopy, stubMultipartCopy } from '../helpers/sdk-stubs.ts';

const s3 = mockClient(S3Client);
const { handler } = await import('../../functions/replicate.ts');

const MiB = 1024 * 1024;
const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
const preconditionFailed = () =>
  new S3ServiceException({
    name: 'PreconditionFailed',
    $fault: 'client',
    message: 'At least one of the pre-conditions you specified did not hold',
    $metadata: { httpStatusCode: 412 },
  });

/** HEAD responses per bucket/key; an absent entry is a 404. */
type Heads = Record<string, Record<string, unknown>>;
function onHead(heads: Heads) {
  s3.on(HeadObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    const head = heads[`${input.Bucket}/${input.Key}`];
    if (!head) throw notFound();
    return head;
  });
}
const sourceHead = (etag: string, extra: Record<string, unknown> = {}) => ({
  ETag: `"${etag}"`,
  ContentLength: 1024,
  LastModified: new Date('2026-11-25T10:00:00Z'),
  Metadata: { owner: 'alice' },
  ContentType: 'image/jpeg',
  CacheControl: 'max-age=60',
  ContentDisposition: 'inline',
  ContentEncoding: 'identity',
  ContentLanguage: 'en',
  Expires: new Date('2030-01-01T00:00:00Z'),
  ...extra,
});
const replicate = (event: SQSEvent) => handler(event, aContext());

describe('replicate', () => {
  beforeEach(() => {
    s3.reset();
  });

  it('copies a small new object with one conditional COPY, confirmed (mirror) by one HEAD of the source', async () => {
    onHead({ 'source-bucket/a b+c=d&e%f.txt': sourceHead('e1') });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    const result = await replicate(anSqsEvent(aTask({ key: 'a b+c=d&e%f.txt', etag: 'e1' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: 'source-bucket',
      Key: 'a b+c=d&e%f.txt',
    });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'dr-bucket',
      Key: 'a b+c=d&e%f.txt',
      CopySource: 'source-bucket/a%20b%2Bc%3Dd%26e%25f.txt',
      CopySourceIfMatch: '"e1"',
      MetadataDirective: 'COPY',
      TaggingDirective: 'COPY',
      StorageClass: 'STANDARD',
    });
  });

  it('HEADs the DR copy before copying an object larger than 1 MiB, and skips the copy when DR has it', async () => {
    onHead({
      'dr-bucket/photos/cat.jpg': sourceHead('e1', { ContentLength: 2 * MiB, LastModified: new Date() }),
    });
    await replicate(anSqsEvent(aTask({ etag: 'e1', size: 2 * MiB })));
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 1);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it.each([
    ['unicode', '写真/été/📷.jpg'],
    ['a 1,024-byte key', `${'k'.repeat(1020)}.txt`],
  ])('replicates %s with the key unchanged in DR', async (_what, key) => {
    onHead({});
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    await replicate(anSqsEvent(aTask({ key, etag: 'e1' })));
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Key: key,
      CopySource: `source-bucket/${encodeURIComponent(key)}`,
    });
  });

  it('skips the copy when the DR object already has the source ETag (a duplicate costs one HEAD)', async () => {
    onHead({
      'dr-bucket/photos/cat.jpg': sourceHead('e1', { ContentLength: 2 * MiB, LastModified: new Date() }),
    });
    await replicate(anSqsEvent(aTask({ etag: 'e1', size: 2 * MiB }), aTask({ etag: 'e1', size: 2 * MiB })));
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 2);
  });

  it('recognises a DR copy by the source ETag recorded in its metadata', async () => {
    onHead({
      'dr-bucket/photos/cat.jpg': sourceHead('kms-etag', {
        Metadata: { 's3dr-source-etag': 'e1' },
        ContentLength: 2 * MiB,
        LastModified: new Date(),
      }),
    });
    await replicate(anSqsEvent(aTask({ etag: 'e1', size: 2 * MiB })));
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('rewrites a DR copy the verifier condemned (deep mode), though its recorded source ETag matches', async () => {
    const forged = sourceHead('kms-x', { Metadata: { owner: 'alice', 's3dr-source-etag': 'e1' } });
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e1'), 'dr-bucket/photos/cat.jpg': forged });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"kms-y"' } });
    const repair = { eventName: 'Verify:Repair', etag: 'e1', size: 1024 };

    // Without the verdict, the copy is trusted by its recorded ETag; with it, it is rewritten.
    await replicate(anSqsEvent(aTask(repair)));
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);

    const result = await replicate(anSqsEvent(aTask({ ...repair, drEtag: 'kms-x' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    // The source reports no KMS: the copy keeps its metadata as it is (COPY) and records nothing.
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'dr-bucket',
      Key: 'photos/cat.jpg',
      MetadataDirective: 'COPY',
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input.Metadata).toBeUndefined();
  });

  it('does not rewrite again once the condemned DR copy was replaced (a redelivered repair)', async () => {
    const rewritten = sourceHead('kms-y', { Metadata: { owner: 'alice', 's3dr-source-etag': 'e1' } });
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e1'), 'dr-bucket/photos/cat.jpg': rewritten });
    await replicate(
      anSqsEvent(aTask({ eventName: 'Verify:Repair', etag: 'e1', size: 1024, drEtag: 'kms-x' })),
    );
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('replicates a metadata-only change (an in-place copy keeps the ETag) with a COPY that takes the current metadata', async () => {
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('e1', { Metadata: { owner: 'bob' } }),
      'dr-bucket/photos/cat.jpg': sourceHead('e1', {
        Metadata: { owner: 'alice' },
        LastModified: new Date(),
      }),
    });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    await replicate(anSqsEvent(aTask({ etag: 'e1', eventName: 'ObjectCreated:Copy' })));
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      CopySourceIfMatch: '"e1"',
      MetadataDirective: 'COPY',
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input.Metadata).toBeUndefined();
  });

  it('costs no copy when a restore writes back what DR holds (same bytes and metadata, written later)', async () => {
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('e1'),
      'dr-bucket/photos/cat.jpg': sourceHead('e1', { LastModified: new Date('2026-11-20T00:00:00Z') }),
    });
    // A restore writes with CopyObject: an ObjectCreated:Copy event.
    await replicate(
      anSqsEvent(
        aTask({ etag: 'e1', eventName: 'ObjectCreated:Copy', eventTime: '2026-11-25T12:00:00.000Z' }),
      ),
    );
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 3);
  });

  it('re-reads the source when it was overwritten between event and copy (412) and copies what is there now', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e2') });
    s3.on(CopyObjectCommand, { CopySourceIfMatch: '"e1"' }).rejects(preconditionFailed());
    s3.on(CopyObjectCommand, { CopySourceIfMatch: '"e2"' }).resolves({ CopyObjectResult: { ETag: '"e2"' } });
    const result = await replicate(anSqsEvent(aTask({ etag: 'e1' })));
    expect(result.batchItemFailures).toEqual([]);
    // COPY carries metadata and content headers along; the ETags will match, so nothing is recorded.
    expect(s3).toHaveReceivedNthSpecificCommandWith(2, CopyObjectCommand, {
      CopySourceIfMatch: '"e2"',
      MetadataDirective: 'COPY',
      TaggingDirective: 'COPY',
    });
    const second = s3.commandCalls(CopyObjectCommand)[1]?.args[0].input;
    expect([second?.Metadata, second?.ContentType]).toEqual([undefined, undefined]);
  });

  it('fails only that record when the source keeps changing under the copy', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e2') });
    s3.on(CopyObjectCommand, { Key: 'photos/cat.jpg' }).rejects(preconditionFailed());
    s3.on(CopyObjectCommand, { Key: 'other.txt' }).resolves({ CopyObjectResult: { ETag: '"e9"' } });
    const event = anSqsEvent(aTask({ etag: 'e1' }), aTask({ key: 'other.txt', etag: 'e9' }));
    const result = await replicate(event);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
    // fast path + two reconcile attempts on the changing key; one copy for the other.
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 4);
  });

  it('applies the delete policy when the source was deleted before the copy (NoSuchKey)', async () => {
    onHead({ 'dr-bucket/photos/cat.jpg': sourceHead('e0') });
    s3.on(CopyObjectCommand).rejects(new NoSuchKey({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    s3.on(DeleteObjectCommand).resolves({ DeleteMarker: true });
    const result = await replicate(anSqsEvent(aTask({ etag: 'e1' })));
    expect(result.batchItemFailures).toEqual([]);
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: 'dr-bucket', Key: 'photos/cat.jpg' });
  });

  it('mirrors a delete as a DR delete (a delete marker in the versioned DR bucket)', async () => {
    onHead({ 'dr-bucket/photos/cat.jpg': sourceHead('e0') });
    s3.on(DeleteObjectCommand).resolves({ DeleteMarker: true });
    await replicate(
      anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined, size: undefined })),
    );
    expect(s3).toHaveReceivedCommandTimes(DeleteObjectCommand, 1);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('does not add another delete marker when DR already lacks the key', async () => {
    onHead({});
    await replicate(anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined })));
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('copies instead of deleting when a delete arrives after the key was written again', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e3') });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e3"' } });
    await replicate(anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined })));
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, { CopySourceIfMatch: '"e3"' });
  });

  it('handles a delete that arrives before the put of the same key in one batch', async () => {
    const heads: Heads = { 'source-bucket/photos/cat.jpg': sourceHead('e1') };
    onHead(heads);
    s3.on(CopyObjectCommand).callsFake(() => {
      heads['dr-bucket/photos/cat.jpg'] = sourceHead('e1');
      return { CopyObjectResult: { ETag: '"e1"' } };
    });
    const result = await replicate(
      anSqsEvent(aTask({ eventName: 'ObjectRemoved:Delete', etag: undefined }), aTask({ etag: 'e1' })),
    );
    expect(result.batchItemFailures).toEqual([]);
    // The delete task finds the key written again and copies it; the put, small, is copied blind again.
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 2);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('copies a multipart source part by part with its own boundaries, so the DR ETag equals the source ETag', async () => {
    const sizes = [5 * MiB, 5 * MiB, 1234];
    const total = sizes.reduce((a, b) => a + b);
    onHead({ 'source-bucket/big.bin': sourceHead('abc-3', { ContentLength: total, PartsCount: 3 }) });
    stubMultipartCopy(s3, sizes, 'abc-3');

    const result = await replicate(
      anSqsEvent(
        aTask({
          key: 'big.bin',
          etag: 'abc-3',
          size: total,
          eventName: 'ObjectCreated:CompleteMultipartUpload',
        }),
      ),
    );

    expect(result.batchItemFailures).toEqual([]);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: 'dr-bucket',
      Key: 'big.bin',
      Metadata: { owner: 'alice' },
      ContentType: 'image/jpeg',
      CacheControl: 'max-age=60',
      Tagging: 'team=a%26b',
      StorageClass: 'STANDARD',
    });
    const ranges = s3
      .commandCalls(UploadPartCopyCommand)
      .map((c) => [c.args[0].input.PartNumber, c.args[0].input.CopySourceRange]);
    expect(ranges.sort()).toEqual([
      [1, `bytes=0-${5 * MiB - 1}`],
      [2, `bytes=${5 * MiB}-${10 * MiB - 1}`],
      [3, `bytes=${10 * MiB}-${total - 1}`],
    ]);
    expect(s3).toHaveReceivedCommandWith(UploadPartCopyCommand, { CopySourceIfMatch: '"abc-3"' });
    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      UploadId: 'up-1',
      MultipartUpload: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"p${n}"` })) },
    });
  });

  it('falls back to one HEAD per part number where S3 does not list part sizes', async () => {
    const total = 10 * MiB + 7;
    onHead({ 'source-bucket/big.bin': sourceHead('abc-2', { ContentLength: total, PartsCount: 2 }) });
    s3.on(HeadObjectCommand, { Bucket: 'source-bucket', Key: 'big.bin', PartNumber: 1 }).resolves({
      ContentLength: 5 * MiB,
      PartsCount: 2,
      ETag: '"abc-2"',
    });
    s3.on(HeadObjectCommand, { Bucket: 'source-bucket', Key: 'big.bin', PartNumber: 2 }).resolves({
      ContentLength: 5 * MiB + 7,
      PartsCount: 2,
      ETag: '"abc-2"',
    });
    s3.on(GetObjectAttributesCommand).resolves({ ObjectParts: { TotalPartsCount: 2 } });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(ListMultipartUploadsCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p"' } });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"abc-2"' });
    await replicate(anSqsEvent(aTask({ key: 'big.bin', etag: 'abc-2', size: total })));
    const ranges = s3
      .commandCalls(UploadPartCopyCommand)
      .map((c) => c.args[0].input.CopySourceRange)
      .sort();
    expect(ranges).toEqual([`bytes=0-${5 * MiB - 1}`, `bytes=${5 * MiB}-${total - 1}`]);
  });

  it('resumes a half-done multipart copy instead of starting over', async () => {
    const sizes = [5 * MiB, 5 * MiB, 5 * MiB];
    onHead({ 'source-bucket/big.bin': sourceHead('abc-3', { ContentLength: 15 * MiB, PartsCount: 3 }) });
    s3.on(GetObjectAttributesCommand).resolves({
      ObjectParts: { TotalPartsCount: 3, Parts: sizes.map((Size, i) => ({ PartNumber: i + 1, Size })) },
    });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(ListMultipartUploadsCommand).resolves({
      Uploads: [
        { Key: 'big.bin', UploadId: 'stale', Initiated: new Date('2026-11-25T09:00:00Z') },
        { Key: 'big.bin', UploadId: 'open', Initiated: new Date('2026-11-25T10:05:00Z') },
        { Key: 'big.bin-other', UploadId: 'unrelated', Initiated: new Date('2026-11-25T10:05:00Z') },
      ],
    });
    s3.on(ListPartsCommand).resolves({
      Parts: [
        { PartNumber: 1, ETag: '"p1"', Size: 5 * MiB },
        { PartNumber: 2, ETag: '"p2"', Size: 5 * MiB },
      ],
    });
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p3"' } });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"abc-3"' });

    await replicate(anSqsEvent(aTask({ key: 'big.bin', etag: 'abc-3', size: 15 * MiB })));

    expect(s3).not.toHaveReceivedCommand(CreateMultipartUploadCommand);
    expect(s3).toHaveReceivedCommandTimes(UploadPartCopyCommand, 1);
    expect(s3).toHaveReceivedCommandWith(UploadPartCopyCommand, { UploadId: 'open', PartNumber: 3 });
    // An upload begun before the source was last written holds parts of an older version.
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'stale' });
    expect(s3).not.toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'open' });
    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      UploadId: 'open',
      MultipartUpload: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"p${n}"` })) },
    });
  });

  it('stops before the deadline, leaves the upload open and fails the record so the redelivery resumes', async () => {
    onHead({ 'source-bucket/big.bin': sourceHead('abc-3', { ContentLength: 15 * MiB, PartsCount: 3 }) });
    s3.on(GetObjectAttributesCommand).resolves({
      ObjectParts: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, Size: 5 * MiB })) },
    });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(ListMultipartUploadsCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    const event = anSqsEvent(aTask({ key: 'big.bin', etag: 'abc-3', size: 15 * MiB }));
    // Less time left than the safety margin (1 s in tests): no part may start.
    const result = await handler(event, aContext(500));
    expect(result.batchItemFailures).toHaveLength(1);
    expect(s3).not.toHaveReceivedCommand(UploadPartCopyCommand);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('aborts the upload when the source changes during a multipart copy', async () => {
    onHead({ 'source-bucket/big.bin': sourceHead('abc-2', { ContentLength: 10 * MiB, PartsCount: 2 }) });
    s3.on(GetObjectAttributesCommand).resolves({
      ObjectParts: { Parts: [1, 2].map((n) => ({ PartNumber: n, Size: 5 * MiB })) },
    });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(ListMultipartUploadsCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCopyCommand).rejects(preconditionFailed());
    const result = await replicate(anSqsEvent(aTask({ key: 'big.bin', etag: 'abc-2', size: 10 * MiB })));
    expect(result.batchItemFailures).toHaveLength(1);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'up-1' });
  });

  it('copies a large single-part object in uniform parts and records the source ETag', async () => {
    const total = 12 * MiB;
    onHead({ 'source-bucket/one.bin': sourceHead('md5', { ContentLength: total }) });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(ListMultipartUploadsCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p"' } });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"other-3"' });
    await replicate(anSqsEvent(aTask({ key: 'one.bin', etag: 'md5', size: total })));
    expect(s3).toHaveReceivedCommandTimes(UploadPartCopyCommand, 3);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Metadata: expect.objectContaining({ 's3dr-source-etag': 'md5' }),
    });
  });

  it('fails a malformed body alone, naming the problem, and replicates the rest of the batch', async () => {
    onHead({});
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    const event = anSqsEvent(
      'not json',
      JSON.stringify({ v: 1, bucket: 'source-bucket' }),
      aTask({ etag: 'e1' }),
    );
    const result = await replicate(event);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      event.Records[0]?.messageId,
      event.Records[1]?.messageId,
    ]);
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
  });

  it('refuses a task for a bucket that is not configured, touching nothing', async () => {
    const event = anSqsEvent(aTask({ bucket: 'not-a-source' }));
    const result = await replicate(event);
    expect(result.batchItemFailures).toHaveLength(1);
    expect(s3).not.toHaveReceivedAnyCommand();
  });

  it('keeps the one conditional COPY into an SSE-KMS DR bucket: no rewrite because the ETag differs', async () => {
    // "Object" (Amazon S3 API Reference), ETag: objects encrypted by SSE-KMS have ETags that are not an MD5
    // digest of their data. CopyObject answers with the encryption it applied (x-amz-server-side-encryption).
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e1') });
    s3.on(CopyObjectCommand).resolves({
      CopyObjectResult: { ETag: '"0f343b0931126a20f133d67c2b018a3b"' },
      ServerSideEncryption: 'aws:kms',
    });
    const result = await replicate(anSqsEvent(aTask({ etag: 'e1' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, { MetadataDirective: 'COPY' });
  });

  it('processes the sample SQS batch fixture (a put and a delete)', async () => {
    const event = JSON.parse(
      await readFile(new URL('../../events/sqs-batch.json', import.meta.url), 'utf8'),
    ) as SQSEvent;
    onHead({});
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"d41d8cd98f00b204e9800998ecf8427e"' } });
    const result = await replicate(event);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, { Key: 'photos/2026/a b+c été.jpg' });
  });

  // ---------------------------------------------------------------- archived and SSE-C sources

  /** Runs `fn` with metrics.addMetric spied; returns the metric names published, with their values. */
  async function publishedMetrics(fn: () => Promise<unknown>): Promise<[string, number][]> {
    const addMetric = jest.spyOn(metrics, 'addMetric');
    try {
      await fn();
      return addMetric.mock.calls.map(([name, , value]) => [name, value]);
    } finally {
      addMetric.mockRestore();
    }
  }

  it('reports a GLACIER source unreplicable when its COPY gets 403 InvalidObjectState: no retry, no DLQ', async () => {
    // S3 User Guide, "Copying objects" / CopyObject: an archived source must be restored before it can be
    // copied; S3 answers 403 InvalidObjectState. Retrying cannot change that, so the record succeeds.
    onHead({
      'source-bucket/cold/2019.csv': sourceHead('e1', { StorageClass: 'GLACIER' }),
      'source-bucket/hot.txt': sourceHead('e2'),
    });
    s3.on(CopyObjectCommand, { Key: 'cold/2019.csv' }).rejects(invalidObjectState());
    s3.on(CopyObjectCommand, { Key: 'hot.txt' }).resolves({ CopyObjectResult: { ETag: '"e2"' } });
    let result: unknown;
    const published = await publishedMetrics(async () => {
      result = await replicate(
        anSqsEvent(aTask({ key: 'cold/2019.csv', etag: 'e1' }), aTask({ key: 'hot.txt', etag: 'e2' })),
      );
    });
    expect(result).toEqual({ batchItemFailures: [] });
    // The blind COPY, then a HEAD of each side to classify; no second COPY of the archived object.
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 2);
    expect(published).toContainEqual(['ObjectsUnreplicable', 1]);
    expect(published.map(([name]) => name)).not.toContain('Failures');
    expect(s3).not.toHaveReceivedCommand(RestoreObjectCommand);
  });

  it('reports an Intelligent-Tiering Archive Access source unreplicable on a verifier repair, without a COPY', async () => {
    // S3 User Guide, "S3 Intelligent-Tiering archive access tiers": objects there are archived until restored.
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('e1', {
        StorageClass: 'INTELLIGENT_TIERING',
        ArchiveStatus: 'ARCHIVE_ACCESS',
      }),
    });
    const result = await replicate(anSqsEvent(aTask({ eventName: 'Verify:Repair', etag: 'e1' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('reports an SSE-C source unreplicable: COPY 400 InvalidRequest, HEAD a bare 400 that a GET explains', async () => {
    // S3 User Guide, "Using server-side encryption with customer-provided keys (SSE-C)": S3 keeps no key,
    // so every read (HEAD, GET, the source of a COPY) needs the customer's key, which s3-dr never has.
    s3.on(CopyObjectCommand).rejects(sseCustomerKeyRequired());
    s3.on(HeadObjectCommand).rejects(bareBadRequest());
    s3.on(GetObjectCommand).rejects(sseCustomerKeyRequired());
    let result: unknown;
    const published = await publishedMetrics(async () => {
      result = await replicate(anSqsEvent(aTask({ etag: 'e1' })));
    });
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(published).toContainEqual(['ObjectsUnreplicable', 1]);
  });

  it('copies a restored GLACIER source (ongoing-request="false") into the configured DR storage class', async () => {
    // S3 User Guide, "Restoring an archived object": for a permanent copy, restore the object and copy it.
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('e1', {
        StorageClass: 'GLACIER',
        Restore: 'ongoing-request="false", expiry-date="Sat, 28 Nov 2026 00:00:00 GMT"',
      }),
    });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    const result = await replicate(anSqsEvent(aTask({ eventName: 'ObjectRestore:Completed', etag: 'e1' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'dr-bucket',
      CopySourceIfMatch: '"e1"',
      StorageClass: 'STANDARD',
    });
  });
});

describe('replicate with thawArchivedSources', () => {
  const MiB = 1024 * 1024;
  const settings: ReplicateSettings = {
    deletePolicy: 'mirror',
    keyLayout: 'flat',
    drStorageClass: 'STANDARD_IA',
    drKmsKeyId: undefined,
    copyTags: false,
    multipartThreshold: 5 * MiB,
    partSize: 5 * MiB,
    partConcurrency: 4,
    safetyMarginMs: 1000,
    thawArchivedSources: true,
    thawDays: 1,
    thawTier: 'Bulk',
  };
  const run = (event: SQSEvent) => {
    const client = new S3Client({ region: 'eu-west-1' });
    return replicateBatch(event, aContext(), {
      sourceStore: (bucket) => (bucket === 'source-bucket' ? new S3ObjectStore(client, bucket) : undefined),
      dr: new S3ObjectStore(client, 'dr-bucket'),
      clock: { now: () => new Date(), remainingMs: () => 60_000 },
      settings,
      logger,
      metrics,
      outcomes,
    });
  };

  beforeEach(() => {
    s3.reset();
  });

  it('starts RestoreObject once; a second event while the restore runs does not restart it', async () => {
    // S3 API reference, RestoreObject; HEAD shows x-amz-restore ongoing-request="true" while it runs.
    const heads: Heads = {
      'source-bucket/cold.csv': sourceHead('e1', { StorageClass: 'DEEP_ARCHIVE', VersionId: 'v7' }),
    };
    onHead(heads);
    s3.on(CopyObjectCommand).rejects(invalidObjectState());
    s3.on(RestoreObjectCommand).resolves({});

    const first = await run(anSqsEvent(aTask({ key: 'cold.csv', etag: 'e1' })));
    heads['source-bucket/cold.csv'] = sourceHead('e1', {
      StorageClass: 'DEEP_ARCHIVE',
      VersionId: 'v7',
      Restore: 'ongoing-request="true"',
    });
    const second = await run(anSqsEvent(aTask({ key: 'cold.csv', etag: 'e1', eventName: 'Verify:Repair' })));

    expect(first).toEqual({ batchItemFailures: [] });
    expect(second).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(RestoreObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(RestoreObjectCommand, {
      Bucket: 'source-bucket',
      Key: 'cold.csv',
      VersionId: 'v7',
      RestoreRequest: { Days: 1, GlacierJobParameters: { Tier: 'Bulk' } },
    });
  });

  it('takes RestoreAlreadyInProgress (409) as a restore under way, not a failure', async () => {
    onHead({ 'source-bucket/cold.csv': sourceHead('e1', { StorageClass: 'GLACIER' }) });
    s3.on(RestoreObjectCommand).rejects(
      new S3ServiceException({
        name: 'RestoreAlreadyInProgress',
        $fault: 'client',
        message: 'Object restore is already in progress',
        $metadata: { httpStatusCode: 409 },
      }),
    );
    const result = await run(anSqsEvent(aTask({ key: 'cold.csv', eventName: 'Verify:Repair' })));
    expect(result).toEqual({ batchItemFailures: [] });
  });

  it('copies the object when its ObjectRestore:Completed task arrives', async () => {
    onHead({
      'source-bucket/cold.csv': sourceHead('e1', {
        StorageClass: 'DEEP_ARCHIVE',
        Restore: 'ongoing-request="false", expiry-date="Sat, 28 Nov 2026 00:00:00 GMT"',
      }),
    });
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
    const result = await run(
      anSqsEvent(aTask({ key: 'cold.csv', etag: 'e1', eventName: 'ObjectRestore:Completed' })),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).not.toHaveReceivedCommand(RestoreObjectCommand);
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Key: 'cold.csv',
      CopySourceIfMatch: '"e1"',
      StorageClass: 'STANDARD_IA',
    });
  });

  it('never tries to thaw an SSE-C source', async () => {
    s3.on(CopyObjectCommand).rejects(sseCustomerKeyRequired());
    s3.on(HeadObjectCommand).rejects(bareBadRequest());
    s3.on(GetObjectCommand).rejects(sseCustomerKeyRequired());
    const result = await run(anSqsEvent(aTask({ etag: 'e1' })));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).not.toHaveReceivedCommand(RestoreObjectCommand);
  });
});

// The ETag of an object (or part) encrypted with SSE-KMS or DSSE-KMS is not an MD5 of its data ("Object",
// Amazon S3 API Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html). S3 reports the
// encryption it applies on CreateMultipartUpload, UploadPartCopy, CopyObject and HEAD
// (x-amz-server-side-encryption: AES256 | aws:kms | aws:kms:dsse), and a bucket's default encryption applies
// without any header in the request.
describe('replicate: copies decided by the encryption S3 reports', () => {
  const sizes = [5 * MiB, 5 * MiB, 1234];
  const total = sizes.reduce((a, b) => a + b);
  const plainParts = ['part one', 'part two', 'part three'].map(md5Hex);
  const plainEtag = md5OfMd5s(plainParts);
  // 32 hex digits like an MD5, but not the MD5 of the part: what SSE-KMS part ETags look like.
  const kmsParts = ['k1', 'k2', 'k3'].map(md5Hex);
  const bigTask = (etag: string) =>
    aTask({ key: 'big.bin', etag, size: total, eventName: 'ObjectCreated:CompleteMultipartUpload' });
  const bigHead = (etag: string, encryption: string) =>
    sourceHead(etag, { ContentLength: total, PartsCount: 3, ServerSideEncryption: encryption });

  beforeEach(() => {
    s3.reset();
  });

  it('completes a multipart copy into a DR bucket encrypting with SSE-KMS by default (no key configured), recording the source ETag', async () => {
    onHead({ 'source-bucket/big.bin': bigHead(plainEtag, 'AES256') });
    stubEncryptedMultipartCopy(s3, sizes, 'aws:kms', kmsParts, `${md5Hex('kms')}-3`);

    const result = await replicate(anSqsEvent(bigTask(plainEtag)));

    expect(result).toEqual({ batchItemFailures: [] });
    // The first upload's answer says aws:kms: it is started again (no bytes copied yet) with the record.
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'up-1' });
    expect(s3).toHaveReceivedNthSpecificCommandWith(2, CreateMultipartUploadCommand, {
      Metadata: { owner: 'alice', 's3dr-source-etag': plainEtag },
    });
    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      UploadId: 'up-2',
      MultipartUpload: { Parts: kmsParts.map((p, i) => ({ PartNumber: i + 1, ETag: `"${p}"` })) },
    });
    expect(s3).not.toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'up-2' });
  });

  it('does not start a KMS multipart copy over when the record would not fit in 2 KB of metadata', async () => {
    const full = { note: 'é'.repeat(1022) }; // 2,048 bytes as S3 counts user metadata
    onHead({ 'source-bucket/big.bin': { ...bigHead(plainEtag, 'AES256'), Metadata: full } });
    stubEncryptedMultipartCopy(s3, sizes, 'aws:kms', kmsParts, `${md5Hex('kms')}-3`);
    const result = await replicate(anSqsEvent(bigTask(plainEtag)));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CreateMultipartUploadCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, { Metadata: full });
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect(s3).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
  });

  it('keeps the MD5-of-MD5s check in an SSE-S3 (AES256) DR bucket and records nothing there', async () => {
    onHead({ 'source-bucket/big.bin': bigHead(plainEtag, 'AES256') });
    stubEncryptedMultipartCopy(s3, sizes, 'AES256', plainParts, plainEtag);
    const result = await replicate(anSqsEvent(bigTask(plainEtag)));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CreateMultipartUploadCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, { Metadata: { owner: 'alice' } });
    expect(s3).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
  });

  it('catches a part of another version in an SSE-S3 (AES256) DR bucket: the upload is aborted, not completed', async () => {
    onHead({ 'source-bucket/big.bin': bigHead(plainEtag, 'AES256') });
    const wrong = [plainParts[0] ?? '', md5Hex('part two, older version'), plainParts[2] ?? ''];
    stubEncryptedMultipartCopy(s3, sizes, 'AES256', wrong, md5OfMd5s(wrong));
    const result = await replicate(anSqsEvent(bigTask(plainEtag)));
    expect(result.batchItemFailures).toHaveLength(1);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'up-1' });
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
  });

  it('completes a copy of a DSSE-KMS source (its ETag is no MD5 of MD5s) into an AES256 bucket, recording its ETag from the start', async () => {
    const dsseEtag = `${md5Hex('dsse')}-3`;
    onHead({ 'source-bucket/big.bin': bigHead(dsseEtag, 'aws:kms:dsse') });
    stubEncryptedMultipartCopy(s3, sizes, 'AES256', plainParts, plainEtag);
    const result = await replicate(anSqsEvent(bigTask(dsseEtag)));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CreateMultipartUploadCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Metadata: { owner: 'alice', 's3dr-source-etag': dsseEtag },
    });
    expect(s3).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });
});

// "Working with object metadata" (Amazon S3 User Guide,
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html): user-defined metadata is limited
// to 2 KB, the sum of the bytes of the UTF-8 encoding of each key and value; metadata S3 cannot return in a
// header is counted in x-amz-missing-meta (HeadObject, https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
describe('replicate: metadata is never lost to bookkeeping', () => {
  const repair = aTask({ eventName: 'Verify:Repair', etag: 'kms-e1', size: 1024 });
  const metadataCopies = () =>
    s3
      .commandCalls(CopyObjectCommand)
      .map((c) => [c.args[0].input.MetadataDirective, c.args[0].input.Metadata]);

  beforeEach(() => {
    s3.reset();
    s3.on(CopyObjectCommand).resolves({
      CopyObjectResult: { ETag: '"kms-dr"' },
      ServerSideEncryption: 'aws:kms',
    });
  });

  it('records the source ETag of an SSE-KMS source where it fits (REPLACE, content headers kept)', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('kms-e1', { ServerSideEncryption: 'aws:kms' }) });
    await replicate(anSqsEvent(repair));
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      MetadataDirective: 'REPLACE',
      Metadata: { owner: 'alice', 's3dr-source-etag': 'kms-e1' },
      ContentType: 'image/jpeg',
      CacheControl: 'max-age=60',
      ContentDisposition: 'inline',
      ContentEncoding: 'identity',
      ContentLanguage: 'en',
      Expires: new Date('2030-01-01T00:00:00Z'),
    });
  });

  it('copies an SSE-KMS source whose metadata is at the 2 KB limit with COPY, losing nothing and recording nothing', async () => {
    // 4 + 2,044 bytes: exactly 2 KB as S3 counts it; the record would push it over and S3 would refuse.
    const full = { note: 'é'.repeat(1022) };
    expect(Buffer.byteLength('note') + Buffer.byteLength(full.note)).toBe(2048);
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('kms-e1', {
        ServerSideEncryption: 'aws:kms',
        Metadata: full,
      }),
    });
    const result = await replicate(anSqsEvent(repair));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(metadataCopies()).toEqual([['COPY', undefined]]);
  });

  it('never REPLACE-copies a source with x-amz-missing-meta: COPY keeps what S3 could not return', async () => {
    onHead({
      'source-bucket/photos/cat.jpg': sourceHead('kms-e1', {
        ServerSideEncryption: 'aws:kms',
        MissingMeta: 2,
      }),
    });
    await replicate(anSqsEvent(repair));
    expect(metadataCopies()).toEqual([['COPY', undefined]]);
  });

  it('copies a multipart source with x-amz-missing-meta with one CopyObject (COPY), not in parts that would drop it', async () => {
    onHead({
      'source-bucket/big.bin': sourceHead('abc-3', {
        ContentLength: 15 * MiB,
        PartsCount: 3,
        MissingMeta: 1,
      }),
    });
    await replicate(
      anSqsEvent(aTask({ key: 'big.bin', eventName: 'Verify:Repair', etag: 'abc-3', size: 15 * MiB })),
    );
    expect(s3).not.toHaveReceivedCommand(CreateMultipartUploadCommand);
    expect(metadataCopies()).toEqual([['COPY', undefined]]);
  });
});

// S3 stores a full-object checksum with every new object (CRC64NVME by default) and computes it on the
// plaintext, so it compares content across encryption types; CopyObject copies the source's checksum and
// algorithm unless told otherwise ("CopyObject", x-amz-checksum-algorithm, Amazon S3 API Reference)
// ("Checking object integrity in Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html;
// "CopyObjectResult": ChecksumCRC64NVME is present if the source was uploaded without a checksum).
describe('replicate: a KMS DR copy that records nothing', () => {
  const kmsDr = sourceHead('kms-dr', { LastModified: new Date() });
  const checksumsBy = (values: Record<string, string>) =>
    s3.on(GetObjectAttributesCommand).callsFake((input: { Bucket: string }) => ({
      Checksum: { ChecksumCRC64NVME: values[input.Bucket], ChecksumType: 'FULL_OBJECT' },
    }));

  beforeEach(() => {
    s3.reset();
    s3.on(CopyObjectCommand).resolves({
      CopyObjectResult: { ETag: '"kms-dr2"' },
      ServerSideEncryption: 'aws:kms',
    });
  });

  it('is recognised by equal full-object checksums: a repair costs no copy', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e1'), 'dr-bucket/photos/cat.jpg': kmsDr });
    checksumsBy({ 'source-bucket': 'AAAAAAAAAAA=', 'dr-bucket': 'AAAAAAAAAAA=' });
    await replicate(anSqsEvent(aTask({ eventName: 'Verify:Repair', etag: 'e1', size: 1024 })));
    expect(s3).toHaveReceivedCommandTimes(GetObjectAttributesCommand, 2);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('is copied again when its checksum differs', async () => {
    onHead({ 'source-bucket/photos/cat.jpg': sourceHead('e1'), 'dr-bucket/photos/cat.jpg': kmsDr });
    checksumsBy({ 'source-bucket': 'AAAAAAAAAAA=', 'dr-bucket': 'BBBBBBBBBBB=' });
    await replicate(anSqsEvent(aTask({ eventName: 'Verify:Repair', etag: 'e1', size: 1024 })));
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
  });

  it('costs one CopyObject per fresh small object, and the copy is final', async () => {
    onHead({ 'source-bucket/a.txt': sourceHead('e1'), 'source-bucket/b.txt': sourceHead('e2') });
    const result = await replicate(
      anSqsEvent(aTask({ key: 'a.txt', etag: 'e1' }), aTask({ key: 'b.txt', etag: 'e2' })),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3).toHaveReceivedCommandTimes(CopyObjectCommand, 2);
    expect(s3).not.toHaveReceivedCommand(GetObjectAttributesCommand);
  });
});
