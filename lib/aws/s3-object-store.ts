import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
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
  PutObjectCommand,
  PutObjectTaggingCommand,
  paginateListParts,
  RestoreObjectCommand,
  type S3Client,
  S3ServiceException,
  type StorageClass,
  type Tier,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  DrError,
  ObjectArchivedError,
  ObjectNotFoundError,
  PreconditionFailedError,
  SseCustomerKeyRequiredError,
} from '../core/errors.ts';
import { compareKeys } from '../core/key-order.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
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
} from '../core/ports.ts';
import { normaliseEtag } from '../core/task.ts';

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata?.httpStatusCode : undefined;
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    ['NotFound', 'NoSuchKey', 'NoSuchVersion', 'NoSuchUpload'].includes(error.name) || statusOf(error) === 404
  );
}

/**
 * What S3 answers when asked to read an SSE-C object without its key: 400 `InvalidRequest`, "The object
 * was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve
 * the object." (GetObject and CopyObject alike).
 */
function isSseCustomerKeyRequired(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'InvalidRequest' &&
    /Server Side Encryption/i.test(error.message) &&
    statusOf(error) === 400
  );
}

/** Translates the S3 errors domain code branches on; everything else propagates unchanged. */
function translate(error: unknown, what: string): never {
  // Reading an archived object without a restored copy: GetObject/CopyObject/UploadPartCopy answer 403
  // InvalidObjectState (CopyObject's model also names ObjectNotInActiveTierError).
  if (
    error instanceof Error &&
    (error.name === 'InvalidObjectState' || error.name === 'ObjectNotInActiveTierError')
  ) {
    throw new ObjectArchivedError(`${what}: the object is archived and not restored (${error.name})`, {
      cause: error,
    });
  }
  if (isSseCustomerKeyRequired(error)) {
    throw new SseCustomerKeyRequiredError(`${what}: the object is encrypted with a customer key (SSE-C)`, {
      cause: error,
    });
  }
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

/**
 * Decodes a key (or prefix, or marker) from a listing requested with `EncodingType=url`. Without it S3
 * writes keys raw into the XML, and XML parsers turn a carriage return into a line feed (XML 1.0
 * end-of-line handling), so `a\rb` is listed as `a\nb`; with it, every byte outside the unreserved set is
 * percent-encoded (UTF-8) and a space is `+` — form encoding: a literal `+` arrives as `%2B` (as botocore
 * decodes it, with `unquote_plus`). The JS SDK v3 passes the encoded values through undecoded.
 */
export function decodeListedKey(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch (error) {
    // S3 encodes valid UTF-8 only: this is an endpoint bug, and guessing a key would misname an object.
    throw new DrError(`a listing returned ${JSON.stringify(value)}, which is not URL-encoded UTF-8`, {
      cause: error,
    });
  }
}

/**
 * The decoder for one listing response: S3 includes `EncodingType` in the response exactly when it
 * encoded the key fields, so an endpoint that ignored the request parameter (its keys raw) is read raw
 * rather than decoded a second time (`a+b` must not become `a b`).
 */
function keyDecoder(encodingType: string | undefined): (value: string) => string {
  return encodingType === 'url' ? decodeListedKey : (value) => value;
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

/**
 * The S3 implementation of {@link ObjectStore}, bound to one bucket and one regional client. With
 * `expectedOwner` (an account id) every request carries `ExpectedBucketOwner`, and S3 refuses it with 403
 * Access Denied when another account owns a bucket of that name (S3 User Guide, "Verifying bucket
 * ownership with bucket owner condition"): a wrong or re-created bucket name can never receive DR copies.
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  /** Bucket (and expected owner) of every request. */
  private readonly at: { Bucket: string; ExpectedBucketOwner?: string };

  constructor(client: S3Client, bucket: string, options: { expectedOwner?: string } = {}) {
    this.client = client;
    this.bucket = bucket;
    this.at = options.expectedOwner
      ? { Bucket: bucket, ExpectedBucketOwner: options.expectedOwner }
      : { Bucket: bucket };
  }

  async head(
    key: string,
    options: { versionId?: string; partNumber?: number } = {},
  ): Promise<ObjectHead | undefined> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({
          ...this.at,
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
        archiveStatus: r.ArchiveStatus,
        sseCustomerAlgorithm: r.SSECustomerAlgorithm,
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
      if (statusOf(error) === 400) await this.explainBadHead(key, options.versionId);
      return translate(error, `HEAD s3://${this.bucket}/${key}`);
    }
  }

  /**
   * A HEAD of an SSE-C object without its key fails with a bare 400 (a HEAD response has no body to say
   * why; HeadObject requires the SSE-C headers "for the server to be able to retrieve the object's
   * metadata"). A one-byte ranged GET of the same object says why in its error body: when it is the SSE-C
   * refusal, that is thrown as {@link SseCustomerKeyRequiredError}; otherwise the HEAD's error stands.
   * Costs a request only on a HEAD that failed with 400, which s3-dr's own HEADs never cause.
   */
  private async explainBadHead(key: string, versionId: string | undefined): Promise<void> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({ ...this.at, Key: key, VersionId: versionId, Range: 'bytes=0-0' }),
      );
      (r.Body as Readable | undefined)?.destroy?.();
    } catch (error) {
      if (isSseCustomerKeyRequired(error)) {
        throw new SseCustomerKeyRequiredError(
          `HEAD s3://${this.bucket}/${key}: the object is encrypted with a customer key (SSE-C)`,
          { cause: error },
        );
      }
    }
  }

  async copyFrom(source: CopySource, key: string, options: WriteOptions): Promise<CopyResult> {
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          ...this.at,
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
    await this.client.send(new DeleteObjectCommand({ ...this.at, Key: key }));
  }

  async getTags(key: string, versionId?: string): Promise<Record<string, string>> {
    try {
      const r = await this.client.send(
        new GetObjectTaggingCommand({ ...this.at, Key: key, VersionId: versionId }),
      );
      return Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    } catch (error) {
      return translate(error, `GET tagging s3://${this.bucket}/${key}`);
    }
  }

  async putTags(key: string, tags: Record<string, string>, versionId?: string): Promise<void> {
    const TagSet = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    try {
      // "If you send this request with an empty tag set, Amazon S3 deletes the existing tag set … The
      // DELETE Object tagging request is preferred because it achieves the same result without
      // incurring charges" (User Guide, "Categorizing your storage using tags").
      const target = { ...this.at, Key: key, VersionId: versionId };
      if (TagSet.length === 0) await this.client.send(new DeleteObjectTaggingCommand(target));
      else await this.client.send(new PutObjectTaggingCommand({ ...target, Tagging: { TagSet } }));
    } catch (error) {
      return translate(error, `PUT tagging s3://${this.bucket}/${key}`);
    }
  }

  async startMultipart(key: string, options: WriteOptions): Promise<StartedUpload> {
    const r = await this.client.send(
      new CreateMultipartUploadCommand({
        ...this.at,
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
          ...this.at,
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
          ...this.at,
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
      await this.client.send(new AbortMultipartUploadCommand({ ...this.at, Key: key, UploadId: uploadId }));
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
          ...this.at,
          Prefix: key,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
          EncodingType: 'url',
        }),
      );
      const decode = keyDecoder(r.EncodingType);
      for (const u of r.Uploads ?? []) {
        if (u.Key !== undefined && decode(u.Key) === key && u.UploadId)
          uploads.push({ key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
      keyMarker = r.IsTruncated && r.NextKeyMarker !== undefined ? decode(r.NextKeyMarker) : undefined;
      uploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return uploads;
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    try {
      // The SDK's paginator follows NextPartNumberMarker (1,000 parts a page).
      // stopOnSameToken: a page that repeats the marker it was asked with ends the list, never loops.
      const pages = paginateListParts(
        { client: this.client, stopOnSameToken: true },
        { ...this.at, Key: key, UploadId: uploadId },
      );
      for await (const page of pages) {
        for (const p of page.Parts ?? []) {
          if (p.PartNumber !== undefined && p.ETag) {
            parts.push({ partNumber: p.PartNumber, etag: normaliseEtag(p.ETag) ?? '', size: p.Size ?? 0 });
          }
        }
      }
    } catch (error) {
      return translate(error, `ListParts s3://${this.bucket}/${key}`);
    }
    return parts;
  }

  async list(options: ListOptions) {
    const r = await this.client.send(
      new ListObjectsV2Command({
        ...this.at,
        Prefix: options.prefix,
        Delimiter: options.delimiter,
        StartAfter: options.token ? undefined : options.startAfter,
        ContinuationToken: options.token,
        MaxKeys: options.maxKeys,
        EncodingType: 'url',
      }),
    );
    // The continuation token is opaque and never encoded; keys and common prefixes are.
    const decode = keyDecoder(r.EncodingType);
    return {
      objects: (r.Contents ?? []).map((o) => ({
        key: decode(o.Key ?? ''),
        etag: normaliseEtag(o.ETag) ?? '',
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
        storageClass: o.StorageClass,
      })),
      commonPrefixes: (r.CommonPrefixes ?? []).map((p) => decode(p.Prefix ?? '')),
      nextToken: r.IsTruncated ? r.NextContinuationToken : undefined,
    };
  }

  async listVersions(options: VersionListOptions) {
    const r = await this.client.send(
      new ListObjectVersionsCommand({
        ...this.at,
        Prefix: options.prefix,
        KeyMarker: options.keyMarker,
        VersionIdMarker: options.versionIdMarker,
        MaxKeys: options.maxKeys,
        EncodingType: 'url',
      }),
    );
    // Version ids are never encoded; keys and key markers are.
    const decode = keyDecoder(r.EncodingType);
    const versions: ListedVersion[] = [
      ...(r.Versions ?? []).map((v) => ({
        key: decode(v.Key ?? ''),
        versionId: v.VersionId ?? 'null',
        isLatest: v.IsLatest ?? false,
        lastModified: v.LastModified ?? new Date(0),
        deleteMarker: false,
        etag: normaliseEtag(v.ETag),
        size: v.Size,
        storageClass: v.StorageClass,
      })),
      ...(r.DeleteMarkers ?? []).map((d) => ({
        key: decode(d.Key ?? ''),
        versionId: d.VersionId ?? 'null',
        isLatest: d.IsLatest ?? false,
        lastModified: d.LastModified ?? new Date(0),
        deleteMarker: true,
      })),
    ];
    // S3 sends versions and delete markers interleaved in one order (keys in UTF-8 byte order, each key's
    // versions newest first); the SDK splits them into two arrays. Put them back in S3's order, so a page
    // reads as S3 listed it (ListObjectVersions, API reference).
    versions.sort(
      (a, b) =>
        compareKeys(a.key, b.key) ||
        Number(b.isLatest) - Number(a.isLatest) ||
        b.lastModified.getTime() - a.lastModified.getTime(),
    );
    return {
      versions,
      nextKeyMarker: r.IsTruncated && r.NextKeyMarker !== undefined ? decode(r.NextKeyMarker) : undefined,
      nextVersionIdMarker: r.IsTruncated ? r.NextVersionIdMarker : undefined,
    };
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ ...this.at, Key: key }));
      return (await r.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putText(key: string, body: string, contentType = 'application/json'): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ ...this.at, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async readText(key: string): Promise<{ body: string; etag: string } | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ ...this.at, Key: key }));
      return { body: (await r.Body?.transformToString('utf8')) ?? '', etag: normaliseEtag(r.ETag) ?? '' };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putTextIf(
    key: string,
    body: string,
    condition: { ifNoneMatch: '*' } | { ifMatch: string },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          ...this.at,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ...('ifMatch' in condition ? { IfMatch: `"${condition.ifMatch}"` } : { IfNoneMatch: '*' }),
        }),
      );
      return true;
    } catch (error) {
      // S3 User Guide, "How to prevent object overwrites with conditional writes": 412 when the condition
      // fails; 409 ConditionalRequestConflict when a concurrent write to the key won; 404 for If-Match
      // when a concurrent delete removed the object first.
      const status = statusOf(error);
      if (status === 412 || status === 409 || (status === 404 && 'ifMatch' in condition)) return false;
      throw error;
    }
  }

  async startThaw(
    key: string,
    versionId: string | undefined,
    days: number | undefined,
    tier: string,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new RestoreObjectCommand({
          ...this.at,
          Key: key,
          VersionId: versionId,
          RestoreRequest: {
            ...(days === undefined ? {} : { Days: days }),
            GlacierJobParameters: { Tier: tier as Tier },
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'RestoreAlreadyInProgress') return false;
      return translate(error, `RestoreObject s3://${this.bucket}/${key}`);
    }
  }

  async versioning(): Promise<'enabled' | 'suspended' | 'unversioned'> {
    const r = await this.client.send(new GetBucketVersioningCommand({ ...this.at }));
    if (r.Status === 'Enabled') return 'enabled';
    return r.Status === 'Suspended' ? 'suspended' : 'unversioned';
  }

  async partSizes(key: string, partsCount: number, versionId?: string): Promise<number[]> {
    const sizes: number[] = [];
    let marker: string | undefined;
    do {
      const r = await this.client.send(
        new GetObjectAttributesCommand({
          ...this.at,
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
        ...this.at,
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
    const r = await this.client.send(new GetObjectCommand({ ...this.at, Key: key }));
    const hash = createHash(algorithm);
    for await (const chunk of r.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }
}
