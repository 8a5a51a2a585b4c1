import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';

export const MiB = 1024 * 1024;

/** Keys that have broken S3 tools before: spaces, `+`, `%`, `=`, `&`, unicode, deep prefixes, long keys. */
export function awkwardKeys(count: number): string[] {
  const shapes = [
    (i: number) => `plain/object-${i}.txt`,
    (i: number) => `with space/file ${i}.txt`,
    (i: number) => `plus+sign/a+b+${i}.bin`,
    (i: number) => `percent/100%25 done %${i}.txt`,
    (i: number) => `query/a=b&c=d&n=${i}`,
    (i: number) => `unicode/été-${i}/写真-${i}.jpg`,
    (i: number) => `emoji/📷-${i}.png`,
    (i: number) => `deep/${'level/'.repeat(12)}${i}.dat`,
    (i: number) => `long/${String(i).padStart(4, '0')}-${'x'.repeat(990)}`,
    (i: number) => `mixed/Ünïcödé + spaces & = %2B ${i}`,
  ];
  return Array.from({ length: count }, (_, i) => shapes[i % shapes.length]!(i));
}

/** Deterministic bytes for a key and a version. */
export function bodyFor(key: string, version: number, size: number): Buffer {
  const seed = createHash('sha256').update(`${key}#${version}`).digest();
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i += seed.length) seed.copy(body, i, 0, Math.min(seed.length, size - i));
  return body;
}

/** Uploads a multipart object with the given part sizes (all but the last ≥ 5 MiB). */
export async function putMultipart(
  s3: S3Client,
  bucket: string,
  key: string,
  partSizes: number[],
  metadata: Record<string, string> = {},
): Promise<string> {
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata }),
  );
  const parts = [];
  for (const [i, size] of partSizes.entries()) {
    const r = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: i + 1,
        Body: bodyFor(key, i, size),
      }),
    );
    parts.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
  return done.ETag ?? '';
}

export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  extra: { metadata?: Record<string, string>; contentType?: string; cacheControl?: string } = {},
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      Metadata: extra.metadata,
      ContentType: extra.contentType,
      CacheControl: extra.cacheControl,
    }),
  );
}

export async function listKeys(s3: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

export interface ObjectSnapshot {
  etag: string;
  size: number;
  sha256: string;
  contentType?: string;
  cacheControl?: string;
  metadata: Record<string, string>;
}

/** Everything a restore or a replica must reproduce about an object (user metadata without s3dr-*). */
export async function snapshot(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<ObjectSnapshot | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    const metadata = Object.fromEntries(
      Object.entries(head.Metadata ?? {}).filter(([k]) => !k.startsWith('s3dr-')),
    );
    return {
      etag: head.ETag ?? '',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      contentType: head.ContentType,
      cacheControl: head.CacheControl,
      metadata,
    };
  } catch (error) {
    if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey')) return undefined;
    throw error;
  }
}

/** Snapshots of many keys, a few at a time. */
export function snapshots(s3: S3Client, bucket: string, keys: readonly string[]) {
  return mapConcurrent(keys, 16, (key) => snapshot(s3, bucket, key));
}
