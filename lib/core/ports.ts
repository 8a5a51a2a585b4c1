/**
 * Ports: the small interfaces domain code talks to. One S3 adapter and one SQS adapter implement them
 * (lib/aws); Lambda, the local runtime and the tests all pass those same adapters, pointed at AWS or at
 * the emulator. Keeping the surface narrow is what keeps the domain code testable and honest about
 * which S3 requests it makes.
 */
import type { Task } from './task.ts';

/** Content headers S3 stores with an object and returns on HEAD/GET. */
export interface ContentHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: Date;
  websiteRedirectLocation?: string;
}

export interface ObjectHead extends ContentHeaders {
  key: string;
  /** Unquoted ETag. */
  etag: string;
  size: number;
  lastModified: Date;
  versionId?: string;
  /** User metadata (x-amz-meta-*), keys lower-case, without the prefix. */
  metadata: Record<string, string>;
  storageClass?: string;
  /** Number of parts when the object was written by a multipart upload (HEAD with PartNumber=1). */
  partsCount?: number;
  /** `AES256`, `aws:kms` or `aws:kms:dsse` as S3 reports it (x-amz-server-side-encryption). */
  serverSideEncryption?: string;
  /**
   * `x-amz-missing-meta`: how many user-metadata entries S3 holds but could not return (not printable
   * in a header). A copy that replaces metadata would lose them; only `MetadataDirective: COPY` keeps them.
   */
  missingMeta?: number;
  /** `x-amz-restore` of an archived object, e.g. `ongoing-request="true"`. */
  restore?: string;
  /** `x-amz-archive-status` of an Intelligent-Tiering object in an archive tier (`ARCHIVE_ACCESS`, …). */
  archiveStatus?: string;
  /** Set when the object is encrypted with a customer-provided key (SSE-C), e.g. `AES256`. */
  sseCustomerAlgorithm?: string;
  tagCount?: number;
}

export interface CopySource {
  bucket: string;
  key: string;
  /** Copy only if the source still has this ETag (412 otherwise). */
  ifMatch?: string;
  versionId?: string;
}

export interface WriteOptions extends ContentHeaders {
  /** Replace metadata with this set; when undefined the source's metadata and headers are copied. */
  metadata?: Record<string, string>;
  storageClass?: string;
  /** `copy` keeps the source's tags; a record replaces them; undefined writes none. */
  tags?: 'copy' | Record<string, string>;
  kmsKeyId?: string;
}

export interface CopyResult {
  etag: string;
  versionId?: string;
  /** The encryption S3 reports it applied to the written object (see ObjectHead.serverSideEncryption). */
  serverSideEncryption?: string;
}

/** CreateMultipartUpload's answer: the upload, and the encryption S3 will apply to the object. */
export interface StartedUpload {
  uploadId: string;
  serverSideEncryption?: string;
}

/** UploadPartCopy's answer: the part's ETag (an MD5 only without SSE-KMS), and the encryption S3 applied. */
export interface CopiedPart {
  etag: string;
  serverSideEncryption?: string;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface OpenUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
  storageClass?: string;
}

/** One ListObjectsV2 request: `token` continues a listing, `startAfter` only starts one. */
export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  startAfter?: string;
  token?: string;
  maxKeys?: number;
}

export interface ListPage {
  objects: ListedObject[];
  commonPrefixes: string[];
  nextToken?: string;
}

export interface ListedVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  lastModified: Date;
  /** Delete markers have no ETag/size. */
  deleteMarker: boolean;
  etag?: string;
  size?: number;
  storageClass?: string;
}

/** One ListObjectVersions request. */
export interface VersionListOptions {
  prefix?: string;
  keyMarker?: string;
  versionIdMarker?: string;
  maxKeys?: number;
}

export interface VersionPage {
  versions: ListedVersion[];
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/** One bucket, seen through the few S3 operations s3-dr needs. */
export interface ObjectStore {
  readonly bucket: string;
  /** HEAD; `undefined` when the object (or version) does not exist. */
  head(key: string, options?: { versionId?: string; partNumber?: number }): Promise<ObjectHead | undefined>;
  /** Server-side copy into this bucket (≤ 5 GiB). */
  copyFrom(source: CopySource, key: string, options: WriteOptions): Promise<CopyResult>;
  remove(key: string): Promise<void>;
  getTags(key: string, versionId?: string): Promise<Record<string, string>>;
  /**
   * Replaces the object's (or version's) whole tag set, leaving its bytes, ETag and Last-Modified alone
   * (PutObjectTagging); an empty set is removed with DeleteObjectTagging, which S3 does not charge for.
   */
  putTags(key: string, tags: Record<string, string>, versionId?: string): Promise<void>;
  startMultipart(key: string, options: WriteOptions): Promise<StartedUpload>;
  copyPart(
    source: CopySource,
    key: string,
    uploadId: string,
    partNumber: number,
    range: { start: number; end: number },
  ): Promise<CopiedPart>;
  completeMultipart(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<CopyResult>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  listOpenUploads(key: string): Promise<OpenUpload[]>;
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>;
  list(options: ListOptions): Promise<ListPage>;
  listVersions(options: VersionListOptions): Promise<VersionPage>;
  getText(key: string): Promise<string | undefined>;
  putText(key: string, body: string, contentType?: string): Promise<void>;
  /** GET of a small text object with its (unquoted) ETag; `undefined` when it does not exist. */
  readText(key: string): Promise<{ body: string; etag: string } | undefined>;
  /**
   * A conditional PutObject (S3 conditional writes): `ifNoneMatch: '*'` creates the object only if the key
   * has no current object; `ifMatch` replaces it only while it still has that ETag. Returns false when
   * the condition did not hold (412 Precondition Failed, or 409 from a concurrent conditional write).
   */
  putTextIf(
    key: string,
    body: string,
    condition: { ifNoneMatch: '*' } | { ifMatch: string },
  ): Promise<boolean>;
  /**
   * Starts thawing an archived object; returns false when a thaw is already in progress. `days`
   * undefined: an Intelligent-Tiering archive tier, whose restores do not expire (S3 refuses `Days`).
   */
  startThaw(
    key: string,
    versionId: string | undefined,
    days: number | undefined,
    tier: string,
  ): Promise<boolean>;
  /** The bucket's versioning state (GetBucketVersioning); `unversioned` when it was never enabled. */
  versioning(): Promise<'enabled' | 'suspended' | 'unversioned'>;
  /**
   * Sizes of the parts a multipart object was uploaded with, in order (GetObjectAttributes, or one HEAD
   * per part number where S3 does not list them).
   */
  partSizes(key: string, partsCount: number, versionId?: string): Promise<number[]>;
  /** Full-object checksums when S3 holds them (GetObjectAttributes), of the current or a given version. */
  checksums(key: string, versionId?: string): Promise<Record<string, string>>;
  /** Streams the object's bytes through a hash (deep verification only). */
  hashBody(key: string, algorithm: string): Promise<string>;
}

/** The replication queue. */
export interface TaskQueue {
  /** Sends the tasks (10 per request), retrying entries that fail; throws if some still fail. */
  send(tasks: Task[]): Promise<void>;
}

export interface Clock {
  now(): Date;
  /** Milliseconds before the invocation must have returned. */
  remainingMs(): number;
}

/** A clock for code running without a Lambda deadline (tests, CLI). */
export function systemClock(deadlineMs = Number.POSITIVE_INFINITY): Clock {
  const start = Date.now();
  return { now: () => new Date(), remainingMs: () => deadlineMs - (Date.now() - start) };
}

/** One message of an SQS batch, as domain code sees it (the handler wrapper reads it off the event). */
export interface QueueMessage {
  messageId: string;
  body: string;
  /** How often SQS has delivered it, this delivery included (`ApproximateReceiveCount`). */
  receiveCount: number;
}
