import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  type S3Client,
  S3ServiceException,
  type StorageClass,
  type Tier,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { ObjectNotFoundError, PreconditionFailedError } from '../errors.ts';
import { mapConcurrent } from '../map-concurrent.ts';
import type {
  CopiedPart,
  CopyResult,
  CopySource,
  ListedVersion,
  ListOptions,
  ObjectHead,
  ObjectStore,
  OpenUpload,
  StartedUpload,
  UploadedPart,
  VersionListOptions,
  WriteOptions,
} from '../ports.ts';
import { normaliseEtag } from '../task.ts';

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata?.httpStatusCode : undefined;
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    ['NotFound', 'NoSuchKey', 'NoSuchVersion', 'NoSuchUpload'].includes(error.name) || statusOf(error) === 404
  );
}

/** Translates the S3 errors domain code branches on; everything else propagates unchanged. */
function translate(error: unknown, what: string): never {
  if (error instanceof Error && (error.name === 'PreconditionFailed' || statusOf(error) === 412)) {
    throw new PreconditionFailedError(`${what}: precondition failed (the source changed)`, { cause: error });
  }
  if (isNotFound(error)) {
    throw new ObjectNotFoundError(`${what}: not found (${(error as Error).name})`, { cause: error });
  }
  throw error;
}

/** `CopySource` header value: bucket/key, URL-encoded, with an optional version. */
export function copySourceHeader(source: CopySource): string {
  const path = `${source.bucket}/${encodeURIComponent(source.key)}`;
  return source.versionId ? `${path}?versionId=${encodeURIComponent(source.versionId)}` : path;
}

function tagString(tags: Record<string, string>): string {
  return new URLSearchParams(tags).toString();
}

function writeParams(options: WriteOptions) {
  return {
    ...(options.metadata
      ? {
          Metadata: options.metadata,
          ContentType: options.contentType,
          ContentEncoding: options.contentEncoding,
          ContentDisposition: options.contentDisposition,
          ContentLanguage: options.contentLanguage,
          CacheControl: options.cacheControl,
          Expires: options.expires,
          WebsiteRedirectLocation: options.websiteRedirectLocation,
        }
      : {}),
    StorageClass: options.storageClass as StorageClass | undefined,
    ...(options.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: options.kmsKeyId } : {}),
  };
}

/** The S3 implementation of {@link ObjectStore}, bound to one bucket and one regional client. */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(client: S3Client, bucket: string) {
    this.client = client;
    this.bucket = bucket;
  }

  async head(
    key: string,
    options: { versionId?: string; partNumber?: number } = {},
  ): Promise<ObjectHead | undefined> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: options.versionId,
          PartNumber: options.partNumber,
        }),
      );
      return {
        key,
        etag: normaliseEtag(r.ETag) ?? '',
        size: r.ContentLength ?? 0,
        lastModified: r.LastModified ?? new Date(0),
        versionId: r.VersionId,
        metadata: r.Metadata ?? {},
        storageClass: r.StorageClass,
        partsCount: r.PartsCount,
        serverSideEncryption: r.ServerSideEncryption,
        ...(r.MissingMeta ? { missingMeta: r.MissingMeta } : {}),
        restore: r.Restore,
        contentType: r.ContentType,
        contentEncoding: r.ContentEncoding,
        contentDisposition: r.ContentDisposition,
        contentLanguage: r.ContentLanguage,
        cacheControl: r.CacheControl,
        expires: r.Expires,
        websiteRedirectLocation: r.WebsiteRedirectLocation,
        tagCount: r.TagCount,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return translate(error, `HEAD s3://${this.bucket}/${key}`);
    }
  }

  async copyFrom(source: CopySource, key: string, options: WriteOptions): Promise<CopyResult> {
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: copySourceHeader(source),
          CopySourceIfMatch: source.ifMatch ? `"${source.ifMatch}"` : undefined,
          MetadataDirective: options.metadata ? 'REPLACE' : 'COPY',
          TaggingDirective: options.tags === 'copy' ? 'COPY' : 'REPLACE',
          Tagging: options.tags && options.tags !== 'copy' ? tagString(options.tags) : undefined,
          ...writeParams(options),
        }),
      );
      return {
        etag: normaliseEtag(r.CopyObjectResult?.ETag) ?? '',
        versionId: r.VersionId,
        serverSideEncryption: r.ServerSideEncryption,
      };
    } catch (error) {
      return translate(error, `COPY s3://${source.bucket}/${source.key} → s3://${this.bucket}/${key}`);
    }
  }

  async remove(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async getTags(key: string, versionId?: string): Promise<Record<string, string>> {
    try {
      const r = await this.client.send(
        new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
      return Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    } catch (error) {
      return translate(error, `GET tagging s3://${this.bucket}/${key}`);
    }
  }

  async startMultipart(key: string, options: WriteOptions): Promise<StartedUpload> {
    const r = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        Tagging: options.tags && options.tags !== 'copy' ? tagString(options.tags) : undefined,
        ...writeParams(options),
      }),
    );
    if (!r.UploadId)
      throw new Error(`CreateMultipartUpload for s3://${this.bucket}/${key} returned no UploadId`);
    return { uploadId: r.UploadId, serverSideEncryption: r.ServerSideEncryption };
  }

  async copyPart(
    source: CopySource,
    key: string,
    uploadId: string,
    partNumber: number,
    range: { start: number; end: number },
  ): Promise<CopiedPart> {
    try {
      const r = await this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: copySourceHeader(source),
          CopySourceIfMatch: source.ifMatch ? `"${source.ifMatch}"` : undefined,
          CopySourceRange: `bytes=${range.start}-${range.end}`,
        }),
      );
      return {
        etag: normaliseEtag(r.CopyPartResult?.ETag) ?? '',
        serverSideEncryption: r.ServerSideEncryption,
      };
    } catch (error) {
      return translate(error, `UploadPartCopy ${partNumber} of s3://${this.bucket}/${key}`);
    }
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<CopyResult> {
    try {
      const r = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
        }),
      );
      return {
        etag: normaliseEtag(r.ETag) ?? '',
        versionId: r.VersionId,
        serverSideEncryption: r.ServerSideEncryption,
      };
    } catch (error) {
      return translate(error, `CompleteMultipartUpload s3://${this.bucket}/${key}`);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async listOpenUploads(key: string): Promise<OpenUpload[]> {
    const uploads: OpenUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const r = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: key,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const u of r.Uploads ?? []) {
        if (u.Key === key && u.UploadId)
          uploads.push({ key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      uploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return uploads;
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumberMarker: marker,
          }),
        );
        for (const p of r.Parts ?? []) {
          if (p.PartNumber !== undefined && p.ETag) {
            parts.push({ partNumber: p.PartNumber, etag: normaliseEtag(p.ETag) ?? '', size: p.Size ?? 0 });
          }
        }
        marker = r.IsTruncated ? r.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (error) {
      return translate(error, `ListParts s3://${this.bucket}/${key}`);
    }
    return parts;
  }

  async list(options: ListOptions) {
    const r = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: options.prefix,
        Delimiter: options.delimiter,
        StartAfter: options.token ? undefined : options.startAfter,
        ContinuationToken: options.token,
        MaxKeys: options.maxKeys,
      }),
    );
    return {
      objects: (r.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        etag: normaliseEtag(o.ETag) ?? '',
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
        storageClass: o.StorageClass,
      })),
      commonPrefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
      nextToken: r.IsTruncated ? r.NextContinuationToken : undefined,
    };
  }

  async listVersions(options: VersionListOptions) {
    const r = await this.client.send(
      new ListObjectVersionsCommand({
        Bucket: this.bucket,
        Prefix: options.prefix,
        KeyMarker: options.keyMarker,
        VersionIdMarker: options.versionIdMarker,
        MaxKeys: options.maxKeys,
      }),
    );
    const versions: ListedVersion[] = [
      ...(r.Versions ?? []).map((v) => ({
        key: v.Key ?? '',
        versionId: v.VersionId ?? 'null',
        isLatest: v.IsLatest ?? false,
        lastModified: v.LastModified ?? new Date(0),
        deleteMarker: false,
        etag: normaliseEtag(v.ETag),
        size: v.Size,
        storageClass: v.StorageClass,
      })),
      ...(r.DeleteMarkers ?? []).map((d) => ({
        key: d.Key ?? '',
        versionId: d.VersionId ?? 'null',
        isLatest: d.IsLatest ?? false,
        lastModified: d.LastModified ?? new Date(0),
        deleteMarker: true,
      })),
    ];
    return {
      versions,
      nextKeyMarker: r.IsTruncated ? r.NextKeyMarker : undefined,
      nextVersionIdMarker: r.IsTruncated ? r.NextVersionIdMarker : undefined,
    };
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await r.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putText(key: string, body: string, contentType = 'application/json'): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async startThaw(key: string, versionId: string | undefined, days: number, tier: string): Promise<boolean> {
    try {
      await this.client.send(
        new RestoreObjectCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          RestoreRequest: { Days: days, GlacierJobParameters: { Tier: tier as Tier } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'RestoreAlreadyInProgress') return false;
      return translate(error, `RestoreObject s3://${this.bucket}/${key}`);
    }
  }

  async versioning(): Promise<'enabled' | 'suspended' | 'unversioned'> {
    const r = await this.client.send(new GetBucketVersioningCommand({ Bucket: this.bucket }));
    if (r.Status === 'Enabled') return 'enabled';
    return r.Status === 'Suspended' ? 'suspended' : 'unversioned';
  }

  async partSizes(key: string, partsCount: number, versionId?: string): Promise<number[]> {
    const sizes: number[] = [];
    let marker: string | undefined;
    do {
      const r = await this.client.send(
        new GetObjectAttributesCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          ObjectAttributes: ['ObjectParts'],
          MaxParts: 1000,
          PartNumberMarker: marker,
        }),
      );
      for (const part of r.ObjectParts?.Parts ?? []) {
        if (part.Size !== undefined) sizes.push(part.Size);
      }
      marker = r.ObjectParts?.IsTruncated ? r.ObjectParts.NextPartNumberMarker : undefined;
    } while (marker);
    if (sizes.length === partsCount) return sizes;
    // S3 lists part sizes only for objects uploaded with additional checksums; otherwise ask per part.
    return mapConcurrent(
      Array.from({ length: partsCount }, (_, i) => i + 1),
      16,
      async (partNumber) => {
        const part = await this.head(key, { versionId, partNumber });
        if (!part)
          throw new ObjectNotFoundError(`HEAD part ${partNumber} of s3://${this.bucket}/${key}: not found`);
        return part.size;
      },
    );
  }

  async checksums(key: string, versionId?: string): Promise<Record<string, string>> {
    const r = await this.client.send(
      new GetObjectAttributesCommand({
        Bucket: this.bucket,
        Key: key,
        VersionId: versionId,
        ObjectAttributes: ['Checksum', 'ETag'],
      }),
    );
    const c = r.Checksum ?? {};
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(c)) {
      if (typeof value === 'string' && name.startsWith('Checksum'))
        out[name.slice('Checksum'.length)] = value;
    }
    if (c.ChecksumType) out.Type = c.ChecksumType;
    return out;
  }

  async hashBody(key: string, algorithm: string): Promise<string> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const hash = createHash(algorithm);
    for await (const chunk of r.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }
}
