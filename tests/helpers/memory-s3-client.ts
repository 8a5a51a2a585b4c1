/**
 * S3 at the SDK level over a {@link MemoryWorld}: every S3 command the adapter (lib/aws/s3-object-store.ts)
 * sends to a mocked S3Client is answered from the in-memory buckets, with S3's status codes (404
 * `NotFound` for a HEAD, `NoSuchKey` otherwise, 412 `PreconditionFailed`). Tests then run the real
 * handlers, adapter included, against a world they set up, and see every request the code makes
 * (aws-sdk-client-mock records them) — which is what the IAM evaluation needs.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  PutObjectTaggingCommand,
  RestoreObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { ObjectNotFoundError, PreconditionFailedError } from '../../lib/core/errors.ts';
import type { WriteOptions } from '../../lib/core/ports.ts';
import { parseCopySource } from './iam-actions.ts';
import type { MemoryStore, MemoryWorld } from './memory-store.ts';

// biome-ignore lint/suspicious/noExplicitAny: command inputs are checked by the SDK's own types at the call site
type Input = any;

const meta = { httpStatusCode: 404 };
const noSuchKey = (what: string) => new NoSuchKey({ message: `${what}: NoSuchKey`, $metadata: meta });
const unquote = (etag: unknown) => (typeof etag === 'string' ? etag.replace(/"/g, '') : undefined);
const tagsOf = (tagging: unknown) =>
  typeof tagging === 'string' ? Object.fromEntries(new URLSearchParams(tagging)) : undefined;

const preconditionFailed = () =>
  new S3ServiceException({
    name: 'PreconditionFailed',
    $fault: 'client',
    message: 'At least one of the pre-conditions you specified did not hold',
    $metadata: { httpStatusCode: 412 },
  });

/** Translates the memory store's port errors back into the S3 errors the SDK would throw. */
async function asS3<T>(what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ObjectNotFoundError) throw noSuchKey(what);
    if (error instanceof PreconditionFailedError) throw preconditionFailed();
    throw error;
  }
}

function writeOptions(input: Input): WriteOptions {
  return {
    ...(input.Metadata ? { metadata: input.Metadata } : {}),
    contentType: input.ContentType,
    contentEncoding: input.ContentEncoding,
    contentDisposition: input.ContentDisposition,
    contentLanguage: input.ContentLanguage,
    cacheControl: input.CacheControl,
    expires: input.Expires,
    websiteRedirectLocation: input.WebsiteRedirectLocation,
    storageClass: input.StorageClass,
    kmsKeyId: input.SSEKMSKeyId,
  };
}

/** Answers `s3` (a mock of S3Client) from `world`. Buckets must exist in the world. */
export function serveFromMemory(s3: AwsClientStub<S3Client>, world: MemoryWorld): void {
  const store = (bucket: string): MemoryStore => {
    const found = world.buckets.get(bucket);
    if (!found) {
      throw new S3ServiceException({
        name: 'NoSuchBucket',
        $fault: 'client',
        message: `The specified bucket does not exist: ${bucket}`,
        $metadata: meta,
      });
    }
    return found;
  };
  const stored = (bucket: string, key: string) => store(bucket).objects.get(key);

  s3.on(HeadObjectCommand).callsFake(async (i: Input) => {
    const head = await store(i.Bucket).head(i.Key, { versionId: i.VersionId, partNumber: i.PartNumber });
    if (!head) throw new NotFound({ message: 'Not Found', $metadata: meta });
    const o = store(i.Bucket).objectAt(i.Key, i.VersionId);
    return {
      ETag: `"${head.etag}"`,
      ContentLength: head.size,
      LastModified: head.lastModified,
      VersionId: head.versionId,
      Metadata: head.metadata,
      StorageClass: o?.storageClass,
      PartsCount: head.partsCount,
      ContentType: head.contentType,
      // x-amz-tagging-count: S3 sends it when the object has tags.
      TagCount: o && Object.keys(o.tags).length > 0 ? Object.keys(o.tags).length : undefined,
      ServerSideEncryption: o?.serverSideEncryption,
    };
  });
  s3.on(GetObjectCommand).callsFake(async (i: Input) => {
    const o = store(i.Bucket).objectAt(i.Key, i.VersionId);
    if (!o) throw noSuchKey(`GET s3://${i.Bucket}/${i.Key}`);
    return {
      // A stream body, as the SDK returns it: iterable, with transformToString.
      Body: Object.assign(Readable.from([o.body]), {
        transformToString: async (encoding?: BufferEncoding) => o.body.toString(encoding),
      }),
      ETag: `"${o.etag}"`,
      ContentLength: o.body.length,
    };
  });
  s3.on(PutObjectCommand).callsFake(async (i: Input) => {
    // Conditional writes (S3 User Guide, "How to prevent object overwrites with conditional writes"):
    // If-None-Match: * fails with 412 when the key exists; If-Match with 412 when its ETag differs, and
    // with 404 NoSuchKey when there is no object. The check and the write are one step, as in S3.
    if (i.IfNoneMatch !== undefined || i.IfMatch !== undefined) {
      if (i.IfMatch !== undefined && !stored(i.Bucket, i.Key))
        throw noSuchKey(`PUT s3://${i.Bucket}/${i.Key}`);
      const condition =
        i.IfMatch !== undefined ? { ifMatch: unquote(i.IfMatch) ?? '' } : { ifNoneMatch: '*' as const };
      if (!(await store(i.Bucket).putTextIf(i.Key, String(i.Body), condition))) throw preconditionFailed();
    } else {
      await store(i.Bucket).putText(i.Key, String(i.Body), i.ContentType);
    }
    return { ETag: `"${stored(i.Bucket, i.Key)?.etag}"` };
  });
  s3.on(CopyObjectCommand).callsFake((i: Input) => {
    const source = parseCopySource(i.CopySource);
    return asS3(`COPY ${i.CopySource}`, async () => {
      const r = await store(i.Bucket).copyFrom(
        { ...source, ...(i.CopySourceIfMatch ? { ifMatch: unquote(i.CopySourceIfMatch) } : {}) },
        i.Key,
        {
          ...writeOptions(i),
          ...(i.MetadataDirective === 'REPLACE' ? { metadata: i.Metadata ?? {} } : { metadata: undefined }),
          tags: i.TaggingDirective === 'REPLACE' ? (tagsOf(i.Tagging) ?? {}) : 'copy',
        },
      );
      return { CopyObjectResult: { ETag: `"${r.etag}"` }, VersionId: r.versionId };
    });
  });
  s3.on(DeleteObjectCommand).callsFake(async (i: Input) => {
    await store(i.Bucket).remove(i.Key);
    return {};
  });
  s3.on(GetObjectTaggingCommand).callsFake((i: Input) =>
    asS3(`GET tagging s3://${i.Bucket}/${i.Key}`, async () => {
      const tags = await store(i.Bucket).getTags(i.Key, i.VersionId);
      return { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
    }),
  );
  // Replaces the tag set of the object, or of the version named (PutObjectTagging / DeleteObjectTagging,
  // API Reference): bytes, ETag and Last-Modified stay; the answer names the version tagged.
  s3.on(PutObjectTaggingCommand).callsFake((i: Input) =>
    asS3(`PUT tagging s3://${i.Bucket}/${i.Key}`, async () => {
      const tags = Object.fromEntries(
        (i.Tagging?.TagSet ?? []).map((t: { Key: string; Value: string }) => [t.Key, t.Value]),
      );
      await store(i.Bucket).putTags(i.Key, tags, i.VersionId);
      return { VersionId: store(i.Bucket).objectAt(i.Key, i.VersionId)?.versionId };
    }),
  );
  s3.on(DeleteObjectTaggingCommand).callsFake((i: Input) =>
    asS3(`DELETE tagging s3://${i.Bucket}/${i.Key}`, async () => {
      await store(i.Bucket).putTags(i.Key, {}, i.VersionId);
      return { VersionId: store(i.Bucket).objectAt(i.Key, i.VersionId)?.versionId };
    }),
  );
  s3.on(CreateMultipartUploadCommand).callsFake(async (i: Input) => {
    const tags = tagsOf(i.Tagging);
    const { uploadId: UploadId } = await store(i.Bucket).startMultipart(i.Key, {
      ...writeOptions(i),
      ...(tags ? { tags } : {}),
    });
    return { UploadId };
  });
  s3.on(UploadPartCopyCommand).callsFake((i: Input) => {
    const source = parseCopySource(i.CopySource);
    const [start, end] = String(i.CopySourceRange).replace('bytes=', '').split('-').map(Number);
    return asS3(`UploadPartCopy ${i.CopySource}`, async () => {
      const { etag } = await store(i.Bucket).copyPart(
        { ...source, ...(i.CopySourceIfMatch ? { ifMatch: unquote(i.CopySourceIfMatch) } : {}) },
        i.Key,
        i.UploadId,
        i.PartNumber,
        { start: start ?? 0, end: end ?? 0 },
      );
      return { CopyPartResult: { ETag: `"${etag}"` } };
    });
  });
  s3.on(CompleteMultipartUploadCommand).callsFake((i: Input) =>
    asS3(`CompleteMultipartUpload s3://${i.Bucket}/${i.Key}`, async () => {
      const parts = (i.MultipartUpload?.Parts ?? []).map((p: Input) => ({
        partNumber: p.PartNumber,
        etag: unquote(p.ETag) ?? '',
      }));
      const r = await store(i.Bucket).completeMultipart(i.Key, i.UploadId, parts);
      return { ETag: `"${r.etag}"`, VersionId: r.versionId };
    }),
  );
  s3.on(AbortMultipartUploadCommand).callsFake(async (i: Input) => {
    await store(i.Bucket).abortMultipart(i.Key, i.UploadId);
    return {};
  });
  s3.on(ListMultipartUploadsCommand).callsFake(async (i: Input) => {
    const uploads = await store(i.Bucket).listOpenUploads(i.Prefix ?? '');
    return {
      Uploads: uploads.map((u) => ({ Key: u.key, UploadId: u.uploadId, Initiated: u.initiated })),
      IsTruncated: false,
    };
  });
  s3.on(ListPartsCommand).callsFake((i: Input) =>
    asS3(`ListParts s3://${i.Bucket}/${i.Key}`, async () => {
      const parts = await store(i.Bucket).listParts(i.Key, i.UploadId);
      return {
        Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"`, Size: p.size })),
        IsTruncated: false,
      };
    }),
  );
  s3.on(ListObjectsV2Command).callsFake(async (i: Input) => {
    const b = store(i.Bucket);
    const page = await b.list({
      prefix: i.Prefix,
      startAfter: i.StartAfter,
      token: i.ContinuationToken,
      maxKeys: i.MaxKeys,
    });
    return {
      Contents: page.objects.map((o) => ({
        Key: o.key,
        ETag: `"${o.etag}"`,
        Size: o.size,
        LastModified: o.lastModified,
        StorageClass: b.objects.get(o.key)?.storageClass ?? 'STANDARD',
      })),
      IsTruncated: page.nextToken !== undefined,
      NextContinuationToken: page.nextToken,
    };
  });
  s3.on(ListObjectVersionsCommand).callsFake(async (i: Input) => {
    const b = store(i.Bucket);
    const page = await b.listVersions({ prefix: i.Prefix });
    const classOf = (key: string, versionId: string) => b.objectAt(key, versionId)?.storageClass;
    return {
      Versions: page.versions
        .filter((v) => !v.deleteMarker)
        .map((v) => ({
          Key: v.key,
          VersionId: v.versionId,
          IsLatest: v.isLatest,
          LastModified: v.lastModified,
          ETag: `"${v.etag}"`,
          Size: v.size,
          StorageClass: classOf(v.key, v.versionId) ?? 'STANDARD',
        })),
      DeleteMarkers: page.versions
        .filter((v) => v.deleteMarker)
        .map((v) => ({
          Key: v.key,
          VersionId: v.versionId,
          IsLatest: v.isLatest,
          LastModified: v.lastModified,
        })),
      IsTruncated: false,
    };
  });
  s3.on(GetBucketVersioningCommand).callsFake(async (i: Input) =>
    (await store(i.Bucket).versioning()) === 'enabled' ? { Status: 'Enabled' } : {},
  );
  s3.on(RestoreObjectCommand).callsFake(async (i: Input) => {
    await store(i.Bucket).startThaw(i.Key);
    return {};
  });
  s3.on(GetObjectAttributesCommand).callsFake((i: Input) =>
    asS3(`GetObjectAttributes s3://${i.Bucket}/${i.Key}`, async () => {
      const b = store(i.Bucket);
      const o = b.objectAt(i.Key, i.VersionId);
      if (!o) throw new ObjectNotFoundError('missing');
      const attributes: string[] = i.ObjectAttributes ?? [];
      const sizes = attributes.includes('ObjectParts') ? await b.partSizes(i.Key, 0, i.VersionId) : [];
      return {
        ETag: o.etag,
        ...(attributes.includes('ObjectParts') && o.partSizes
          ? {
              ObjectParts: {
                TotalPartsCount: sizes.length,
                IsTruncated: false,
                Parts: sizes.map((Size, n) => ({ PartNumber: n + 1, Size })),
              },
            }
          : {}),
        // S3's shape: `Checksum<ALGORITHM>` fields and `ChecksumType`, for the version named.
        ...(attributes.includes('Checksum')
          ? {
              Checksum: Object.fromEntries(
                Object.entries(await b.checksums(i.Key, i.VersionId)).map(([name, value]) => [
                  name === 'Type' ? 'ChecksumType' : `Checksum${name}`,
                  value,
                ]),
              ),
            }
          : {}),
      };
    }),
  );
}
