/**
 * Writes to DR name the account that must own the DR bucket. S3 User Guide, "Verifying bucket ownership
 * with bucket owner condition" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html):
 * a request with `x-amz-expected-bucket-owner` fails with 403 Access Denied when the bucket belongs to
 * another account; for CopyObject the parameter names the *destination* bucket's owner.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { createRuntime, storesRuntime } from '../../functions/runtime.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { loadConfig } from '../../lib/core/config.ts';

const OWNER = '111122223333';
const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'eu-central-1' });
const source = { bucket: 'source-bucket', key: 'a b.txt', ifMatch: 'e1' };

beforeEach(() => {
  s3.reset();
  s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p1"' } });
  s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"e1-1"' });
});

describe('DR writes with the bucket owner condition', () => {
  it('sends ExpectedBucketOwner on every write: copy, multipart, put, conditional put, tags, delete, abort', async () => {
    const dr = new S3ObjectStore(client, 'dr-bucket', { expectedOwner: OWNER });
    await dr.copyFrom(source, 'a b.txt', { tags: { k: 'v' } });
    const { uploadId } = await dr.startMultipart('big', {});
    await dr.copyPart(source, 'big', uploadId, 1, { start: 0, end: 9 });
    await dr.completeMultipart('big', uploadId, [{ partNumber: 1, etag: 'p1' }]);
    await dr.putText('.s3dr/reports/r.json', '{}');
    await dr.putTextIf('.s3dr/leases/l.json', '{}', { ifNoneMatch: '*' });
    await dr.putTags('a b.txt', { k: 'v2' }, 'v1');
    await dr.putTags('a b.txt', {});
    await dr.remove('a b.txt');
    await dr.abortMultipart('big', uploadId);
    const names = [
      'CopyObjectCommand',
      'CreateMultipartUploadCommand',
      'UploadPartCopyCommand',
      'CompleteMultipartUploadCommand',
      'PutObjectCommand',
      'PutObjectTaggingCommand',
      'DeleteObjectTaggingCommand',
      'DeleteObjectCommand',
      'AbortMultipartUploadCommand',
    ];
    const calls = s3.calls().map((c) => ({
      command: c.args[0].constructor.name,
      input: c.args[0].input as Record<string, unknown>,
    }));
    expect(new Set(calls.map((c) => c.command))).toEqual(new Set(names));
    for (const call of calls) {
      expect(call.input).toMatchObject({ Bucket: 'dr-bucket', ExpectedBucketOwner: OWNER });
    }
  });

  it('sends no owner condition from a store without one (sources, restore targets, the emulator)', async () => {
    const plain = new S3ObjectStore(client, 'source-bucket');
    await plain.copyFrom(source, 'x', {});
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input).not.toHaveProperty('ExpectedBucketOwner');
  });

  it('fails the copy with the 403 S3 returns when another account owns a bucket of that name', async () => {
    s3.on(CopyObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'Access Denied',
      }),
    );
    const dr = new S3ObjectStore(client, 'dr-bucket', { expectedOwner: '999999999999' });
    await expect(dr.copyFrom(source, 'a b.txt', {})).rejects.toThrow('Access Denied');
  });

  it('binds the DR store of the runtime to S3DR_DR_BUCKET_OWNER, and only the DR store', async () => {
    const runtime = createRuntime({ ...process.env, S3DR_DR_BUCKET_OWNER: OWNER });
    s3.on(HeadObjectCommand).resolves({ ETag: '"e"', ContentLength: 1 });
    await runtime.dr.head('k');
    await runtime.sourceStore('source-bucket')?.head('k');
    const [drHead, sourceHead] = s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input);
    expect(drHead).toMatchObject({ Bucket: 'dr-bucket', ExpectedBucketOwner: OWNER });
    expect(sourceHead).not.toHaveProperty('ExpectedBucketOwner');
    runtime.destroy();
  });

  // Lambda runs a function's static code in the Init phase, before the first invocation (Lambda Developer
  // Guide, "Understand the Lambda execution environment lifecycle",
  // https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html): a client built at module
  // scope is init time, so one a function never uses is cold-start time spent for nothing.
  it('builds a source store, and the source region client, only when a source store is first asked for', () => {
    const config = loadConfig({
      ...process.env,
      S3DR_SOURCE_REGION: 'eu-west-1',
      S3DR_DR_REGION: 'eu-central-1',
    });
    const regions: string[] = [];
    const stores = storesRuntime(config, {
      s3: (region) => {
        regions.push(region);
        return client;
      },
      destroy: () => undefined,
    });
    // What the verify and restore functions build at init: the DR store, no source-region client.
    expect(regions).toEqual(['eu-central-1']);
    const first = stores.sourceStore('source-bucket');
    expect(first?.bucket).toBe('source-bucket');
    expect(stores.sourceStore('source-bucket')).toBe(first);
    expect(stores.sourceStore('not-a-source')).toBeUndefined();
    expect(regions).toEqual(['eu-central-1', 'eu-west-1']);
  });

  it('refuses an owner that is not a 12-digit account id, naming the variable', () => {
    expect(() => loadConfig({ ...process.env, S3DR_DR_BUCKET_OWNER: 'arn:aws:iam::1:root' })).toThrow(
      /S3DR_DR_BUCKET_OWNER is "arn:aws:iam::1:root": must be the 12-digit id/,
    );
  });
});

/**
 * S3 API Reference, ListParts (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html): at most
 * 1,000 parts a page; "When a list is truncated, this element [NextPartNumberMarker] specifies the last part
 * in the list, as well as the value to use for the part-number-marker request parameter in a subsequent
 * request." The SDK paginator follows it; a page that repeats its marker ends the list.
 */
describe('listing the parts of a multipart upload', () => {
  it('follows NextPartNumberMarker across pages and stops when a page repeats its marker', async () => {
    const page = (numbers: number[], next: string | undefined, truncated: boolean) => ({
      Parts: numbers.map((n) => ({ PartNumber: n, ETag: `"p${n}"`, Size: 5 })),
      NextPartNumberMarker: next,
      IsTruncated: truncated,
    });
    s3.on(ListPartsCommand).callsFake((input: { PartNumberMarker?: string }) => {
      if (input.PartNumberMarker === undefined) return page([1, 2], '2', true);
      if (input.PartNumberMarker === '2') return page([3], '3', false);
      return page([], '3', false);
    });
    const parts = await new S3ObjectStore(client, 'dr-bucket').listParts('big', 'u1');
    expect(parts.map((p) => [p.partNumber, p.etag])).toEqual([
      [1, 'p1'],
      [2, 'p2'],
      [3, 'p3'],
    ]);
    // The paginator reuses one input object, so the calls cannot show each marker: count them.
    expect(s3.commandCalls(ListPartsCommand)).toHaveLength(3);
  });
});
