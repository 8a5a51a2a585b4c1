/**
 * The local emulator answers S3 conditional writes as S3 does (fauxqs 2.4.1 ignores the headers; the
 * fix is in local/emulator.ts). S3 User Guide, "How to prevent object overwrites with conditional
 * writes" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): with
 * `If-None-Match: *` a PutObject, CopyObject or CompleteMultipartUpload fails with 412 Precondition Failed
 * when the key already has an object; with `If-Match: <etag>` it fails with 412 unless the object has that
 * ETag (404 NoSuchKey when there is none). The run lease (lib/verify/run-lease.ts) depends on both.
 */
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';

let local: TestEmulator;
let s3: S3Client;
const BUCKET = 'conditional-writes';

beforeAll(async () => {
  local = await startTestEmulator({ maxAttempts: 1 });
  s3 = local.s3;
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 30_000);

afterAll(async () => {
  await local?.stop();
});

/** The HTTP status and error name of a rejected request. */
async function failure(request: Promise<unknown>): Promise<[number | undefined, string]> {
  try {
    await request;
  } catch (error) {
    if (error instanceof S3ServiceException) return [error.$metadata.httpStatusCode, error.name];
    throw error;
  }
  throw new Error('the request succeeded');
}

const body = async (key: string) =>
  (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString();

describe('emulator conditional writes', () => {
  it('creates with If-None-Match: * only when the key is free, and refuses the second with 412', async () => {
    const put = (text: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'lease', Body: text, IfNoneMatch: '*' }));
    await put('first');
    expect(await failure(put('second'))).toEqual([412, 'PreconditionFailed']);
    expect(await body('lease')).toBe('first');
  });

  it('replaces with If-Match only while the object has that ETag', async () => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cas', Body: 'v1' }));
    const put = (text: string, etag: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cas', Body: text, IfMatch: etag }));
    await put('v2', ETag ?? '');
    expect(await failure(put('v3', ETag ?? ''))).toEqual([412, 'PreconditionFailed']);
    expect(await body('cas')).toBe('v2');
    expect(
      await failure(
        s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'absent', Body: 'x', IfMatch: '"abc"' })),
      ),
    ).toEqual([404, 'NoSuchKey']);
  });

  it('refuses to complete a multipart upload over an existing key with If-None-Match: *', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big', Body: 'already here' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'big' }));
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: 'big', UploadId, PartNumber: 1, Body: 'part' }),
    );
    const complete = s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'big',
        UploadId,
        IfNoneMatch: '*',
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
      }),
    );
    expect(await failure(complete)).toEqual([412, 'PreconditionFailed']);
    expect(await body('big')).toBe('already here');
  });

  it('gives the S3 adapter the answers it maps: created, then held', async () => {
    const store = new S3ObjectStore(s3, BUCKET);
    await expect(store.putTextIf('.s3dr/leases/x.json', '{"a":1}', { ifNoneMatch: '*' })).resolves.toBe(true);
    await expect(store.putTextIf('.s3dr/leases/x.json', '{"a":2}', { ifNoneMatch: '*' })).resolves.toBe(
      false,
    );
    const held = await store.readText('.s3dr/leases/x.json');
    expect(held?.body).toBe('{"a":1}');
    await expect(
      store.putTextIf('.s3dr/leases/x.json', '{"a":3}', { ifMatch: held?.etag ?? '' }),
    ).resolves.toBe(true);
    await store.remove('.s3dr/leases/x.json');
    await expect(store.putTextIf('.s3dr/leases/x.json', '{"a":4}', { ifNoneMatch: '*' })).resolves.toBe(true);
  });
});
