/**
 * The request → IAM table (tests/helpers/iam-actions.ts), row by row, as AWS documents it. Sources: the
 * Service Authorization Reference, "Actions, resources, and condition keys for Amazon S3"
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and "… for
 * Amazon SQS"; the "Permissions" section of each S3 API reference page; the S3 User Guide's "Using
 * server-side encryption with AWS KMS keys (SSE-KMS)" and "Multipart upload API and permissions"; the
 * SQS Developer Guide's "Amazon SQS key management".
 */
import { describe, expect, it } from '@jest/globals';
import {
  type EncryptionWorld,
  parseCopySource,
  queueArnOf,
  type RecordedCall,
  requiredPermissions,
} from '../helpers/iam-actions.ts';

const SRC_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/src';
const DR_KEY = 'arn:aws:kms:eu-central-1:123456789012:key/dr';
const Q_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/q';
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/tasks';

const world: EncryptionWorld = {
  bucketKey: (b) => ({ src: SRC_KEY, dr: DR_KEY })[b],
  queueKey: (arn) => (arn.endsWith(':tasks') ? Q_KEY : undefined),
  region: { s3: (b) => (b === 'dr' ? 'eu-central-1' : 'eu-west-1'), sqs: () => 'eu-west-1' },
};
const s3 = (operation: string, input: Record<string, unknown>, error?: string): RecordedCall => ({
  fn: 'test',
  service: 's3',
  operation,
  input,
  ...(error ? { error } : {}),
});
/** `action resource` of each requirement, in order. */
const needs = (call: RecordedCall) =>
  requiredPermissions(call, world).map((r) => `${r.action} ${r.resource}`);

describe('S3 requests → IAM actions', () => {
  it('HEAD needs s3:GetObject, and s3:ListBucket where a missing key must answer 404 (HeadObject "Permissions")', () => {
    expect(needs(s3('HeadObject', { Bucket: 'plain', Key: 'a b' }))).toEqual([
      's3:GetObject arn:aws:s3:::plain/a b',
    ]);
    expect(needs(s3('HeadObject', { Bucket: 'plain', Key: 'k' }, 'NotFound'))).toEqual([
      's3:GetObject arn:aws:s3:::plain/k',
      's3:ListBucket arn:aws:s3:::plain',
    ]);
  });

  it('reads of a version need the *Version* action, with s3:versionid in the context (Service Authorization Reference)', () => {
    const [head] = requiredPermissions(s3('HeadObject', { Bucket: 'dr', Key: 'k', VersionId: 'v1' }), world);
    expect(head).toMatchObject({
      action: 's3:GetObjectVersion',
      resource: 'arn:aws:s3:::dr/k',
      context: { 's3:versionid': 'v1' },
    });
    expect(needs(s3('GetObjectTagging', { Bucket: 'dr', Key: 'k', VersionId: 'v1' }))).toEqual([
      's3:GetObjectVersionTagging arn:aws:s3:::dr/k',
    ]);
    expect(needs(s3('DeleteObject', { Bucket: 'dr', Key: 'k', VersionId: 'v1' }))).toEqual([
      's3:DeleteObjectVersion arn:aws:s3:::dr/k',
    ]);
  });

  it('GetObjectAttributes needs GetObject + GetObjectAttributes, or their Version forms (GetObjectAttributes "Permissions")', () => {
    expect(needs(s3('GetObjectAttributes', { Bucket: 'src', Key: 'k' }))).toEqual([
      's3:GetObject arn:aws:s3:::src/k',
      's3:GetObjectAttributes arn:aws:s3:::src/k',
    ]);
    expect(needs(s3('GetObjectAttributes', { Bucket: 'src', Key: 'k', VersionId: 'v' }))).toEqual([
      's3:GetObjectVersion arn:aws:s3:::src/k',
      's3:GetObjectVersionAttributes arn:aws:s3:::src/k',
    ]);
  });

  it('tag writes and deletes need s3:PutObjectTagging / s3:DeleteObjectTagging, or their Version forms with a versionId (PutObjectTagging, DeleteObjectTagging "Permissions")', () => {
    expect(needs(s3('PutObjectTagging', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:PutObjectTagging arn:aws:s3:::dr/k',
    ]);
    expect(needs(s3('PutObjectTagging', { Bucket: 'dr', Key: 'k', VersionId: 'v1' }))).toEqual([
      's3:PutObjectVersionTagging arn:aws:s3:::dr/k',
    ]);
    expect(needs(s3('DeleteObjectTagging', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:DeleteObjectTagging arn:aws:s3:::dr/k',
    ]);
    const [del] = requiredPermissions(
      s3('DeleteObjectTagging', { Bucket: 'dr', Key: 'k', VersionId: 'v1' }),
      world,
    );
    expect(del).toMatchObject({
      action: 's3:DeleteObjectVersionTagging',
      resource: 'arn:aws:s3:::dr/k',
      context: { 's3:versionid': 'v1' },
    });
  });

  it('CopyObject reads the source version and its tags, writes and tags the target, and uses both keys (CopyObject "Permissions", SSE-KMS)', () => {
    const call = s3('CopyObject', {
      Bucket: 'src',
      Key: 'a+b.txt',
      CopySource: `dr/${encodeURIComponent('a+b.txt')}?versionId=v7`,
      TaggingDirective: 'COPY',
    });
    expect(needs(call)).toEqual([
      's3:GetObjectVersion arn:aws:s3:::dr/a+b.txt',
      's3:PutObject arn:aws:s3:::src/a+b.txt',
      's3:GetObjectVersionTagging arn:aws:s3:::dr/a+b.txt',
      's3:PutObjectTagging arn:aws:s3:::src/a+b.txt',
      `kms:Decrypt ${DR_KEY}`,
      `kms:GenerateDataKey ${SRC_KEY}`,
    ]);
    // The KMS calls are S3's, on the caller's behalf, in the bucket's region.
    expect(requiredPermissions(call, world).at(-1)?.context).toEqual({
      'kms:ViaService': 's3.eu-west-1.amazonaws.com',
    });
  });

  it('CopyObject with TaggingDirective REPLACE and no tags touches no tags; an explicit SSEKMSKeyId is the key used', () => {
    expect(
      needs(
        s3('CopyObject', {
          Bucket: 'dr',
          Key: 'k',
          CopySource: 'plain/k',
          TaggingDirective: 'REPLACE',
          SSEKMSKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/other',
        }),
      ),
    ).toEqual([
      's3:GetObject arn:aws:s3:::plain/k',
      's3:PutObject arn:aws:s3:::dr/k',
      'kms:GenerateDataKey arn:aws:kms:eu-central-1:123456789012:key/other',
    ]);
  });

  it('a multipart upload into an SSE-KMS bucket needs GenerateDataKey, and Decrypt to complete (Multipart upload API and permissions)', () => {
    expect(needs(s3('CreateMultipartUpload', { Bucket: 'dr', Key: 'k', Tagging: 'a=b' }))).toEqual([
      's3:PutObject arn:aws:s3:::dr/k',
      's3:PutObjectTagging arn:aws:s3:::dr/k',
      `kms:GenerateDataKey ${DR_KEY}`,
    ]);
    expect(needs(s3('UploadPartCopy', { Bucket: 'dr', Key: 'k', CopySource: 'src/k' }))).toEqual([
      's3:GetObject arn:aws:s3:::src/k',
      's3:PutObject arn:aws:s3:::dr/k',
      `kms:Decrypt ${SRC_KEY}`,
      `kms:GenerateDataKey ${DR_KEY}`,
    ]);
    expect(needs(s3('CompleteMultipartUpload', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:PutObject arn:aws:s3:::dr/k',
      `kms:Decrypt ${DR_KEY}`,
    ]);
    expect(needs(s3('ListParts', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:ListMultipartUploadParts arn:aws:s3:::dr/k',
    ]);
    expect(needs(s3('ListMultipartUploads', { Bucket: 'dr' }))).toEqual([
      's3:ListBucketMultipartUploads arn:aws:s3:::dr',
    ]);
    expect(needs(s3('AbortMultipartUpload', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:AbortMultipartUpload arn:aws:s3:::dr/k',
    ]);
  });

  it('listings are bucket actions: ListObjectsV2 → s3:ListBucket, ListObjectVersions → s3:ListBucketVersions', () => {
    expect(needs(s3('ListObjectsV2', { Bucket: 'dr', Prefix: 'a/' }))).toEqual([
      's3:ListBucket arn:aws:s3:::dr',
    ]);
    expect(needs(s3('ListObjectVersions', { Bucket: 'dr' }))).toEqual([
      's3:ListBucketVersions arn:aws:s3:::dr',
    ]);
    expect(needs(s3('GetBucketVersioning', { Bucket: 'dr' }))).toEqual([
      's3:GetBucketVersioning arn:aws:s3:::dr',
    ]);
  });

  it('HEAD and GetObjectAttributes read no data, so no KMS; GET of an SSE-KMS object needs kms:Decrypt', () => {
    expect(needs(s3('HeadObject', { Bucket: 'dr', Key: 'k' }))).toEqual(['s3:GetObject arn:aws:s3:::dr/k']);
    expect(needs(s3('GetObject', { Bucket: 'dr', Key: 'k' }))).toEqual([
      's3:GetObject arn:aws:s3:::dr/k',
      `kms:Decrypt ${DR_KEY}`,
    ]);
    expect(needs(s3('RestoreObject', { Bucket: 'dr', Key: 'k', VersionId: 'v' }))).toEqual([
      's3:RestoreObject arn:aws:s3:::dr/k',
    ]);
  });

  it('refuses an operation the table does not know, so a new request cannot go unevaluated', () => {
    expect(() => requiredPermissions(s3('PutBucketPolicy', { Bucket: 'dr' }), world)).toThrow(
      'no IAM mapping for S3 PutBucketPolicy',
    );
  });
});

describe('SQS requests → IAM actions', () => {
  it('SendMessageBatch is sqs:SendMessage; to an SSE-KMS queue also GenerateDataKey and Decrypt (Amazon SQS key management)', () => {
    const call: RecordedCall = {
      fn: 't',
      service: 'sqs',
      operation: 'SendMessageBatch',
      input: { QueueUrl: QUEUE },
    };
    expect(needs(call)).toEqual([
      'sqs:SendMessage arn:aws:sqs:eu-west-1:123456789012:tasks',
      `kms:GenerateDataKey ${Q_KEY}`,
      `kms:Decrypt ${Q_KEY}`,
    ]);
    const receive: RecordedCall = { ...call, operation: 'ReceiveMessage' };
    expect(needs(receive)).toEqual([
      'sqs:ReceiveMessage arn:aws:sqs:eu-west-1:123456789012:tasks',
      `kms:Decrypt ${Q_KEY}`,
    ]);
  });
});

describe('parsing', () => {
  it('reads CopySource as bucket, URL-decoded key and version', () => {
    expect(parseCopySource('b/a%20b%2Bc%3Fd?versionId=v%2B1')).toEqual({
      bucket: 'b',
      key: 'a b+c?d',
      versionId: 'v+1',
    });
    expect(parseCopySource('b/dir%2Ffile')).toEqual({ bucket: 'b', key: 'dir/file' });
  });

  it('turns a queue URL into its ARN', () => {
    expect(queueArnOf(QUEUE)).toBe('arn:aws:sqs:eu-west-1:123456789012:tasks');
    expect(() => queueArnOf('http://127.0.0.1:4566/000000000000/q')).toThrow('not an SQS queue URL');
  });
});
