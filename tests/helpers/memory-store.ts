/**
 * An in-memory S3 for domain tests: a {@link MemoryWorld} of buckets, each a {@link MemoryStore}
 * implementing the `ObjectStore` port with S3's semantics where s3-dr depends on them — ETag = MD5 of
 * the bytes (multipart: MD5 of the parts' MD5s + `-N`), `CopySourceIfMatch` honoured (412), 404s for
 * missing objects, uploads and sources, CopyObject giving the copy a single-part ETag, multipart uploads
 * with ListMultipartUploads/ListParts, and an optional version history (delete markers).
 *
 * Every port call first awaits `world.beforeOp` (when set) and then takes effect atomically, so a test
 * can decide the interleaving of concurrent calls (fast-check's scheduler, or a gate in a regression
 * test). Source mutations made by the test (`put`, `delete`) bypass the hook: they are the world moving.
 */
import { createHash } from 'node:crypto';
import {
  ObjectArchivedError,
  ObjectNotFoundError,
  PreconditionFailedError,
  SseCustomerKeyRequiredError,
} from '../../lib/core/errors.ts';
import type {
  ContentHeaders,
  CopiedPart,
  CopyResult,
  CopySource,
  ListedVersion,
  ListOptions,
  ListPage,
  ObjectHead,
  ObjectStore,
  OpenUpload,
  StartedUpload,
  UploadedPart,
  VersionListOptions,
  VersionPage,
  WriteOptions,
} from '../../lib/core/ports.ts';
import { unreplicableReason } from '../../lib/core/unreplicable.ts';

export interface StoredObject extends ContentHeaders {
  body: Buffer;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  storageClass?: string;
  /** Intelligent-Tiering archive tier (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`). */
  archiveStatus?: string;
  /** `x-amz-restore` of an archived object. */
  restore?: string;
  /** Written with a customer-provided key (SSE-C): unreadable without it. */
  sseCustomerAlgorithm?: string;
  /** Sizes of the parts it was uploaded with (multipart objects only). */
  partSizes?: number[];
  /** `aws:kms` for an object written with SSE-KMS: its ETag is then not the MD5 of its bytes. */
  serverSideEncryption?: string;
  /** The full-object SHA-256 checksum S3 keeps when the object was uploaded with one (base64). */
  checksumSha256?: string;
  tags: Record<string, string>;
  versionId: string;
}

interface Upload {
  key: string;
  initiated: Date;
  write: WriteOptions;
  parts: Map<number, { etag: string; body: Buffer }>;
}

export interface StoreOp {
  bucket: string;
  op: string;
  key: string;
}

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest();

/** The ETag S3 gives an object uploaded in these parts. */
export function multipartEtag(parts: readonly Buffer[]): string {
  return `${md5(Buffer.concat(parts.map((p) => md5(p)))).toString('hex')}-${parts.length}`;
}

/** Splits a body into parts of the given sizes (the last part takes the rest). */
function split(body: Buffer, sizes: readonly number[]): Buffer[] {
  const parts: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    parts.push(body.subarray(offset, offset + size));
    offset += size;
  }
  return parts;
}

/** Byte-wise (UTF-8) key order, as S3 lists. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A set of buckets that can copy between each other, with one logical clock. */
export class MemoryWorld {
  readonly buckets = new Map<string, MemoryStore>();
  /** Awaited at the start of every port call (not of test-side mutations). */
  beforeOp: ((op: StoreOp) => Promise<void>) | undefined;
  /** Every port call, in the order they took effect. */
  readonly log: StoreOp[] = [];
  private time = Date.parse('2026-11-25T10:00:00Z');
  private ids = 0;
  private readonly tickMs: number;

  /** `tickMs`: how far the clock moves per write (a few hundred ms mixes same-second and later writes). */
  constructor(options: { tickMs?: number } = {}) {
    this.tickMs = options.tickMs ?? 1;
  }

  bucket(name: string, options: { versioned?: boolean } = {}): MemoryStore {
    let store = this.buckets.get(name);
    if (!store) {
      store = new MemoryStore(this, name, options.versioned ?? false);
      this.buckets.set(name, store);
    }
    return store;
  }

  /** A strictly increasing clock: every write happens at its own millisecond. */
  now(): Date {
    this.time += this.tickMs;
    return new Date(this.time);
  }

  nextId(prefix: string): string {
    this.ids += 1;
    return `${prefix}${this.ids}`;
  }
}

export class MemoryStore implements ObjectStore {
  readonly bucket: string;
  readonly versioned: boolean;
  readonly objects = new Map<string, StoredObject>();
  /** Every version and delete marker ever written, oldest first (versioned buckets). */
  readonly history: (
    | { key: string; deleteMarker: true; versionId: string; lastModified: Date }
    | (StoredObject & { key: string; deleteMarker: false })
  )[] = [];
  readonly uploads = new Map<string, Upload>();
  private readonly world: MemoryWorld;

  constructor(world: MemoryWorld, bucket: string, versioned: boolean) {
    this.world = world;
    this.bucket = bucket;
    this.versioned = versioned;
  }

  // ---- test-side mutations (S3 being written by its users) ----

  /** Writes an object as a user would (PutObject, or a multipart upload with these part sizes). */
  put(
    key: string,
    body: Buffer | string,
    options: {
      metadata?: Record<string, string>;
      partSizes?: number[];
      contentType?: string;
      tags?: Record<string, string>;
      storageClass?: string;
      archiveStatus?: string;
      restore?: string;
      sseCustomerAlgorithm?: string;
      /**
       * Written with SSE-KMS: "objects … encrypted by SSE-C or SSE-KMS have ETags that are not an MD5
       * digest of their object data" (Amazon S3 API Reference, "Object": ETag).
       */
      kms?: boolean;
      /** Uploaded with a SHA-256 checksum, which S3 keeps and GetObjectAttributes returns. */
      checksum?: 'SHA256';
    } = {},
  ): StoredObject {
    const bytes = Buffer.from(body);
    const parts = options.partSizes ? split(bytes, options.partSizes) : undefined;
    const etag = parts ? multipartEtag(parts) : md5(bytes).toString('hex');
    return this.store(key, {
      body: bytes,
      // Some other value than the MD5 of the bytes, as S3 gives an SSE-KMS object.
      etag: options.kms ? md5(`sse-kms:${etag}`).toString('hex') : etag,
      ...(options.kms ? { serverSideEncryption: 'aws:kms' } : {}),
      ...(options.checksum ? { checksumSha256: createHash('sha256').update(bytes).digest('base64') } : {}),
      lastModified: this.world.now(),
      metadata: { ...(options.metadata ?? {}) },
      contentType: options.contentType,
      tags: { ...(options.tags ?? {}) },
      ...(parts ? { partSizes: parts.map((p) => p.length) } : {}),
      ...(options.storageClass ? { storageClass: options.storageClass } : {}),
      ...(options.archiveStatus ? { archiveStatus: options.archiveStatus } : {}),
      ...(options.restore ? { restore: options.restore } : {}),
      ...(options.sseCustomerAlgorithm ? { sseCustomerAlgorithm: options.sseCustomerAlgorithm } : {}),
    });
  }

  /** Replaces an object's tag set as a user would (PutObjectTagging / DeleteObjectTagging). */
  setTags(key: string, tags: Record<string, string>): void {
    const o = this.objects.get(key);
    if (!o) throw new Error(`setTags: s3://${this.bucket}/${key} does not exist`);
    o.tags = { ...tags };
  }

  /** Deletes an object as a user would. Returns whether it existed. */
  delete(key: string): boolean {
    const existed = this.objects.delete(key);
    if (this.versioned) {
      this.history.push({
        key,
        deleteMarker: true,
        versionId: this.world.nextId('v'),
        lastModified: this.world.now(),
      });
    }
    return existed;
  }

  private store(key: string, object: Omit<StoredObject, 'versionId'>): StoredObject {
    const stored: StoredObject = { ...object, versionId: this.versioned ? this.world.nextId('v') : 'null' };
    this.objects.set(key, stored);
    if (this.versioned) this.history.push({ ...stored, key, deleteMarker: false });
    return stored;
  }

  private async enter(op: string, key: string): Promise<void> {
    await this.world.beforeOp?.({ bucket: this.bucket, op, key });
    this.world.log.push({ bucket: this.bucket, op, key });
  }

  /** The object, or the given version of it (versioned buckets keep every version in `history`). */
  objectAt(key: string, versionId?: string): StoredObject | undefined {
    if (versionId === undefined || versionId === 'null' || !this.versioned) return this.objects.get(key);
    const found = this.history.find((h) => h.key === key && h.versionId === versionId);
    return found && !found.deleteMarker ? found : undefined;
  }

  private sourceObject(source: CopySource, what: string): StoredObject {
    const from = this.world.buckets.get(source.bucket)?.objectAt(source.key, source.versionId);
    if (!from) throw new ObjectNotFoundError(`${what}: not found (NoSuchKey)`);
    if (source.ifMatch !== undefined && source.ifMatch !== from.etag) {
      throw new PreconditionFailedError(`${what}: precondition failed (the source changed)`);
    }
    // S3 reads neither an SSE-C object without its key nor an archived one without a restored copy.
    const reason = unreplicableReason(from);
    if (reason === 'sse-c') throw new SseCustomerKeyRequiredError(`${what}: SSE-C`);
    if (reason) throw new ObjectArchivedError(`${what}: InvalidObjectState`);
    return from;
  }

  // ---- the ObjectStore port ----

  async head(
    key: string,
    options: { versionId?: string; partNumber?: number } = {},
  ): Promise<ObjectHead | undefined> {
    await this.enter('head', key);
    const o = this.objectAt(key, options.versionId);
    if (!o) return undefined;
    // As the S3 adapter reports a HEAD of an SSE-C object without its key (a bare 400, explained).
    if (o.sseCustomerAlgorithm)
      throw new SseCustomerKeyRequiredError(`HEAD s3://${this.bucket}/${key}: SSE-C`);
    const part =
      options.partNumber !== undefined && o.partSizes ? o.partSizes[options.partNumber - 1] : undefined;
    return {
      key,
      etag: o.etag,
      size: part ?? o.body.length,
      // HEAD's Last-Modified is an HTTP date: whole seconds.
      lastModified: new Date(Math.floor(o.lastModified.getTime() / 1000) * 1000),
      metadata: { ...o.metadata },
      ...(o.versionId !== 'null' ? { versionId: o.versionId } : {}),
      ...(o.storageClass ? { storageClass: o.storageClass } : {}),
      ...(o.archiveStatus ? { archiveStatus: o.archiveStatus } : {}),
      ...(o.restore ? { restore: o.restore } : {}),
      ...(options.partNumber !== undefined && o.partSizes ? { partsCount: o.partSizes.length } : {}),
      ...(o.contentType ? { contentType: o.contentType } : {}),
      // S3 leaves x-amz-tagging-count out when the object has no tags.
      ...(Object.keys(o.tags).length > 0 ? { tagCount: Object.keys(o.tags).length } : {}),
    };
  }

  async copyFrom(source: CopySource, key: string, options: WriteOptions): Promise<CopyResult> {
    await this.enter('copy', key);
    const from = this.sourceObject(
      source,
      `COPY s3://${source.bucket}/${source.key} → s3://${this.bucket}/${key}`,
    );
    const headers: ContentHeaders = options.metadata
      ? {
          contentType: options.contentType,
          contentEncoding: options.contentEncoding,
          contentDisposition: options.contentDisposition,
          contentLanguage: options.contentLanguage,
          cacheControl: options.cacheControl,
          expires: options.expires,
          websiteRedirectLocation: options.websiteRedirectLocation,
        }
      : {
          contentType: from.contentType,
          contentEncoding: from.contentEncoding,
          contentDisposition: from.contentDisposition,
          contentLanguage: from.contentLanguage,
          cacheControl: from.cacheControl,
          expires: from.expires,
          websiteRedirectLocation: from.websiteRedirectLocation,
        };
    // CopyObject writes a single-part object: its ETag is the MD5 of the bytes, whatever the source's was.
    const stored = this.store(key, {
      ...headers,
      body: from.body,
      etag: md5(from.body).toString('hex'),
      lastModified: this.world.now(),
      metadata: { ...(options.metadata ?? from.metadata) },
      storageClass: options.storageClass,
      tags: options.tags === 'copy' ? { ...from.tags } : { ...(options.tags ?? {}) },
      // CopyObject keeps the source's checksum algorithm unless told otherwise (API Reference, CopyObject).
      ...(from.checksumSha256 ? { checksumSha256: from.checksumSha256 } : {}),
    });
    return { etag: stored.etag, ...(this.versioned ? { versionId: stored.versionId } : {}) };
  }

  async remove(key: string): Promise<void> {
    await this.enter('remove', key);
    this.delete(key);
  }

  async getTags(key: string, versionId?: string): Promise<Record<string, string>> {
    await this.enter('getTags', key);
    const o = this.objectAt(key, versionId);
    if (!o) throw new ObjectNotFoundError(`GET tagging s3://${this.bucket}/${key}: not found (NoSuchKey)`);
    return { ...o.tags };
  }

  async putTags(key: string, tags: Record<string, string>, versionId?: string): Promise<void> {
    await this.enter('putTags', key);
    const o = this.objects.get(key);
    const target =
      versionId === undefined || o?.versionId === versionId
        ? o
        : this.history.find(
            (v): v is StoredObject & { key: string; deleteMarker: false } =>
              !v.deleteMarker && v.key === key && v.versionId === versionId,
          );
    if (!target) {
      throw new ObjectNotFoundError(`PUT tagging s3://${this.bucket}/${key}: not found (NoSuchKey)`);
    }
    // Only the tag set changes: bytes, ETag and Last-Modified stay. The current object and its entry in
    // the history are one version: both show the new tags (a read naming the version reads the history).
    target.tags = { ...tags };
    for (const v of this.history) {
      if (!v.deleteMarker && v.key === key && v.versionId === target.versionId) v.tags = { ...tags };
    }
  }

  async startMultipart(key: string, options: WriteOptions): Promise<StartedUpload> {
    await this.enter('startMultipart', key);
    const uploadId = this.world.nextId('upload-');
    this.uploads.set(uploadId, { key, initiated: this.world.now(), write: options, parts: new Map() });
    return { uploadId };
  }

  private upload(key: string, uploadId: string, what: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new ObjectNotFoundError(`${what}: not found (NoSuchUpload)`);
    return upload;
  }

  async copyPart(
    source: CopySource,
    key: string,
    uploadId: string,
    partNumber: number,
    range: { start: number; end: number },
  ): Promise<CopiedPart> {
    await this.enter('copyPart', key);
    const what = `UploadPartCopy ${partNumber} of s3://${this.bucket}/${key}`;
    const upload = this.upload(key, uploadId, what);
    const from = this.sourceObject(source, what);
    if (range.start < 0 || range.end >= from.body.length || range.end < range.start) {
      throw new Error(`${what}: InvalidRange bytes=${range.start}-${range.end} of ${from.body.length}`);
    }
    const body = from.body.subarray(range.start, range.end + 1);
    const etag = md5(body).toString('hex');
    upload.parts.set(partNumber, { etag, body });
    return { etag };
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<CopyResult> {
    await this.enter('completeMultipart', key);
    const what = `CompleteMultipartUpload s3://${this.bucket}/${key}`;
    const upload = this.upload(key, uploadId, what);
    const bodies = parts.map((p, i) => {
      const part = upload.parts.get(p.partNumber);
      if (p.partNumber !== i + 1 || !part || part.etag !== p.etag) {
        throw new Error(`${what}: InvalidPart ${p.partNumber} (${p.etag})`);
      }
      return part.body;
    });
    this.uploads.delete(uploadId);
    const w = upload.write;
    const stored = this.store(key, {
      body: Buffer.concat(bodies),
      etag: multipartEtag(bodies),
      lastModified: this.world.now(),
      metadata: { ...(w.metadata ?? {}) },
      contentType: w.contentType,
      contentEncoding: w.contentEncoding,
      contentDisposition: w.contentDisposition,
      contentLanguage: w.contentLanguage,
      cacheControl: w.cacheControl,
      expires: w.expires,
      websiteRedirectLocation: w.websiteRedirectLocation,
      storageClass: w.storageClass,
      tags: w.tags && w.tags !== 'copy' ? { ...w.tags } : {},
      partSizes: bodies.map((b) => b.length),
    });
    return { etag: stored.etag, ...(this.versioned ? { versionId: stored.versionId } : {}) };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.enter('abortMultipart', key);
    if (this.uploads.get(uploadId)?.key === key) this.uploads.delete(uploadId);
  }

  async listOpenUploads(key: string): Promise<OpenUpload[]> {
    await this.enter('listOpenUploads', key);
    return [...this.uploads]
      .filter(([, u]) => u.key === key)
      .map(([uploadId, u]) => ({ key, uploadId, initiated: u.initiated }));
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    await this.enter('listParts', key);
    const upload = this.upload(key, uploadId, `ListParts s3://${this.bucket}/${key}`);
    return [...upload.parts]
      .sort(([a], [b]) => a - b)
      .map(([partNumber, p]) => ({ partNumber, etag: p.etag, size: p.body.length }));
  }

  async list(options: ListOptions): Promise<ListPage> {
    await this.enter('list', options.prefix ?? '');
    const prefix = options.prefix ?? '';
    const after = options.token ?? options.startAfter;
    const max = options.maxKeys ?? 1000;
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0))
      .sort(compareKeys);
    // ListObjectsV2 rolls the keys that contain the delimiter after the prefix up into one CommonPrefixes
    // entry each, which counts against MaxKeys like an object (tests/helpers/object-store-contract.ts).
    // Keys sharing a prefix are contiguous in byte order, so one pass groups them.
    const objects: string[] = [];
    const commonPrefixes: string[] = [];
    let entries = 0;
    let lastConsumed: string | undefined;
    let truncated = false;
    for (const key of keys) {
      const at = options.delimiter ? key.indexOf(options.delimiter, prefix.length) : -1;
      const rolled = at >= 0 ? key.slice(0, at + (options.delimiter?.length ?? 0)) : undefined;
      if (rolled !== undefined && commonPrefixes.at(-1) === rolled) {
        lastConsumed = key;
        continue;
      }
      if (entries === max) {
        truncated = true;
        break;
      }
      if (rolled === undefined) objects.push(key);
      else commonPrefixes.push(rolled);
      entries++;
      lastConsumed = key;
    }
    return {
      objects: objects.map((key) => {
        const o = this.objects.get(key)!;
        // ListObjectsV2 names every object's class, S3 Standard included (`Contents.StorageClass`).
        return {
          key,
          etag: o.etag,
          size: o.body.length,
          lastModified: o.lastModified,
          storageClass: o.storageClass ?? 'STANDARD',
        };
      }),
      commonPrefixes,
      ...(truncated && lastConsumed !== undefined ? { nextToken: lastConsumed } : {}),
    };
  }

  async listVersions(options: VersionListOptions): Promise<VersionPage> {
    await this.enter('listVersions', options.prefix ?? '');
    const latest = new Map<string, string>();
    for (const v of this.history) latest.set(v.key, v.versionId);
    const versions: ListedVersion[] = this.history
      .filter((v) => v.key.startsWith(options.prefix ?? ''))
      .map((v) => ({
        key: v.key,
        versionId: v.versionId,
        isLatest: latest.get(v.key) === v.versionId,
        lastModified: v.lastModified,
        deleteMarker: v.deleteMarker,
        ...(v.deleteMarker ? {} : { etag: v.etag, size: v.body.length }),
      }))
      .sort((a, b) => compareKeys(a.key, b.key) || b.lastModified.getTime() - a.lastModified.getTime());
    // Paging as ListObjectVersions documents it: a key marker alone resumes after that key; with a version
    // id marker, after that version of it; a truncated page names its last version as the next markers.
    let start = 0;
    if (options.keyMarker !== undefined) {
      const marker = options.keyMarker;
      const at = options.versionIdMarker
        ? versions.findIndex((v) => v.key === marker && v.versionId === options.versionIdMarker)
        : -1;
      start = at >= 0 ? at + 1 : versions.findIndex((v) => compareKeys(v.key, marker) > 0);
      if (start < 0) start = versions.length;
    }
    const max = options.maxKeys ?? 1000;
    const page = versions.slice(start, start + max);
    const last = page.at(-1);
    return start + max < versions.length && last
      ? { versions: page, nextKeyMarker: last.key, nextVersionIdMarker: last.versionId }
      : { versions: page };
  }

  async getText(key: string): Promise<string | undefined> {
    await this.enter('getText', key);
    return this.objects.get(key)?.body.toString('utf8');
  }

  async putText(key: string, body: string, contentType = 'application/json'): Promise<void> {
    await this.enter('putText', key);
    this.put(key, body, { contentType });
  }

  async readText(key: string): Promise<{ body: string; etag: string } | undefined> {
    await this.enter('readText', key);
    const o = this.objects.get(key);
    return o ? { body: o.body.toString('utf8'), etag: o.etag } : undefined;
  }

  /** As S3's conditional writes: the check and the write are one step (no await between them). */
  async putTextIf(
    key: string,
    body: string,
    condition: { ifNoneMatch: '*' } | { ifMatch: string },
  ): Promise<boolean> {
    await this.enter('putTextIf', key);
    const current = this.objects.get(key);
    const holds = 'ifMatch' in condition ? current?.etag === condition.ifMatch : current === undefined;
    if (!holds) return false;
    this.put(key, body, { contentType: 'application/json' });
    return true;
  }

  async startThaw(key: string): Promise<boolean> {
    await this.enter('startThaw', key);
    const o = this.objects.get(key);
    if (!o) throw new ObjectNotFoundError(`RestoreObject s3://${this.bucket}/${key}: not found (NoSuchKey)`);
    // RestoreAlreadyInProgress (409) while a restore runs; the test completes it by setting `restore`.
    if (o.restore === 'ongoing-request="true"') return false;
    o.restore = 'ongoing-request="true"';
    return true;
  }

  async versioning(): Promise<'enabled' | 'suspended' | 'unversioned'> {
    await this.enter('versioning', '');
    return this.versioned ? 'enabled' : 'unversioned';
  }

  async partSizes(key: string, _partsCount: number, versionId?: string): Promise<number[]> {
    await this.enter('partSizes', key);
    const o = this.objectAt(key, versionId);
    if (!o)
      throw new ObjectNotFoundError(`GetObjectAttributes s3://${this.bucket}/${key}: not found (NoSuchKey)`);
    // S3 answers for the object as it is now, which may not be the version the caller counted the parts
    // of: the caller must check (copyObject compares the total with the size it read).
    return o.partSizes ?? [o.body.length];
  }

  async checksums(key: string, versionId?: string): Promise<Record<string, string>> {
    await this.enter('checksums', key);
    const o = this.objectAt(key, versionId);
    // As the S3 adapter reports them: algorithm → value, and the checksum's type. (An object without one,
    // or gone, answers none here: the SDK-level client in memory-s3-client.ts answers 404 for the latter.)
    return o?.checksumSha256 ? { SHA256: o.checksumSha256, Type: 'FULL_OBJECT' } : {};
  }

  async hashBody(key: string, algorithm: string): Promise<string> {
    await this.enter('hashBody', key);
    const o = this.objects.get(key);
    if (!o) throw new ObjectNotFoundError(`GET s3://${this.bucket}/${key}: not found (NoSuchKey)`);
    return createHash(algorithm).update(o.body).digest('hex');
  }
}
