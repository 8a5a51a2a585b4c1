/**
 * The emulator's storage classes (local/emulator-storage-class.ts, patches/fauxqs+2.4.1.patch) against
 * S3's documented behaviour:
 * - PutObject, CopyObject and CreateMultipartUpload take the class in `x-amz-storage-class` (S3 API
 *   Reference, PutObject / CopyObject / CreateMultipartUpload); CopyObject: "If the x-amz-storage-class
 *   header is not used, the copied object will be stored in the STANDARD Storage Class by default".
 * - HEAD and GET return `x-amz-storage-class` "for all objects except for S3 Standard storage class
 *   objects" (S3 API Reference, HeadObject / GetObject).
 * - ListObjectsV2 names every object's class, STANDARD included (`Contents.StorageClass`).
 * - An unknown class is refused with 400 InvalidStorageClass (S3 API Reference, "Error responses").
 * fauxqs 2.4.1 ignored the header and listed everything as STANDARD.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';

let local: TestEmulator;
let s3: S3Client;
const bucket = 'class-bucket';

beforeAll(async () => {
  local = await startTestEmulator({ region: 'eu-west-1' });
  s3 = local.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await local?.stop();
});

const classOf = async (key: string) =>
  (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).StorageClass;
const listed = async (prefix: string) =>
  Object.fromEntries(
    ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
      (o) => [o.Key, o.StorageClass],
    ),
  );

describe('emulator storage classes', () => {
  it('keeps the class of a PutObject; HEAD names it except for STANDARD; the listing names every class', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'put/ia', Body: 'a', StorageClass: 'STANDARD_IA' }),
    );
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/std', Body: 'b' }));
    expect(await classOf('put/ia')).toBe('STANDARD_IA');
    expect(await classOf('put/std')).toBeUndefined();
    expect(await listed('put/')).toEqual({ 'put/ia': 'STANDARD_IA', 'put/std': 'STANDARD' });
  });

  it('gives a copy the class its request names, and STANDARD without one (even from another class)', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'copy/src', Body: 'c', StorageClass: 'GLACIER_IR' }),
    );
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copy/deep',
        CopySource: `${bucket}/copy/src`,
        StorageClass: 'DEEP_ARCHIVE',
      }),
    );
    await s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'copy/plain', CopySource: `${bucket}/copy/src` }),
    );
    expect(await listed('copy/')).toEqual({
      'copy/deep': 'DEEP_ARCHIVE',
      'copy/plain': 'STANDARD',
      'copy/src': 'GLACIER_IR',
    });
  });

  it('keeps the class of a multipart upload from CreateMultipartUpload', async () => {
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu/one', StorageClass: 'ONEZONE_IA' }),
    );
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mpu/one', UploadId, PartNumber: 1, Body: 'part' }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mpu/one',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
      }),
    );
    expect(await classOf('mpu/one')).toBe('ONEZONE_IA');
  });

  it('refuses an unknown storage class with InvalidStorageClass', async () => {
    const error = await s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'bad', Body: 'x', StorageClass: 'COLD' as never }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ServiceException);
    expect((error as S3ServiceException).name).toBe('InvalidStorageClass');
  });
});

// S3 keeps an object's class for as long as the object exists; the local runtime keeps its objects
// across a restart (S3DR_DATA_DIR), so it keeps their classes too (local/emulator-object-fields.ts).
describe('storage classes survive an emulator restart (S3DR_DATA_DIR)', () => {
  it('keeps the class of current and noncurrent versions, and STANDARD stays STANDARD', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 's3dr-classes-'));
    const b = 'classes-restart';
    const open = async () => {
      const { emulator: emu, s3: c } = await startTestEmulator({ region: 'eu-west-1', dataDir });
      return { emu, c };
    };
    const versions = async (c: S3Client) =>
      ((await c.send(new ListObjectVersionsCommand({ Bucket: b }))).Versions ?? []).map((v) => [
        v.Key,
        v.IsLatest,
        v.StorageClass,
      ]);
    try {
      const first = await open();
      await first.c.send(new CreateBucketCommand({ Bucket: b }));
      await first.c.send(
        new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
      );
      await first.c.send(
        new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'old', StorageClass: 'GLACIER_IR' }),
      );
      await first.c.send(
        new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'new', StorageClass: 'STANDARD_IA' }),
      );
      await first.c.send(new PutObjectCommand({ Bucket: b, Key: 'plain', Body: 'p' }));
      const before = await versions(first.c);
      expect(before).toEqual([
        ['k', true, 'STANDARD_IA'],
        ['k', false, 'GLACIER_IR'],
        ['plain', true, 'STANDARD'],
      ]);
      first.c.destroy();
      await first.emu.stop();

      const second = await open();
      try {
        expect(await versions(second.c)).toEqual(before);
        expect((await second.c.send(new HeadObjectCommand({ Bucket: b, Key: 'k' }))).StorageClass).toBe(
          'STANDARD_IA',
        );
        expect(
          (await second.c.send(new HeadObjectCommand({ Bucket: b, Key: 'plain' }))).StorageClass,
        ).toBeUndefined();
      } finally {
        second.c.destroy();
        await second.emu.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
