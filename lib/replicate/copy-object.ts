import { createHash } from 'node:crypto';
import { DeadlineError, ObjectNotFoundError, PreconditionFailedError } from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { Clock, CopySource, ObjectHead, ObjectStore, WriteOptions } from '../core/ports.ts';
import { multipartPartsOf } from '../core/task.ts';

/** S3 allows at most this many parts in one upload. */
const MAX_PARTS = 10_000;
/** CopyObject copies objects up to 5 GiB; larger ones only in parts. */
const MAX_COPY_OBJECT_BYTES = 5 * 1024 ** 3;

/** Metadata s3-dr writes on DR copies; stripped again on restore. */
export const META_PREFIX = 's3dr-';
/** The source ETag a DR copy stands for, recorded only where the copy's own ETag cannot equal it. */
export const META_SOURCE_ETAG = 's3dr-source-etag';
/**
 * S3 limits user-defined metadata to 2 KB, measured as the sum of the bytes of the UTF-8 encoding of each
 * key and value ("Working with object metadata", Amazon S3 User Guide). A copy that adds a key past it is
 * rejected, so s3-dr's own bookkeeping is added only where it fits.
 */
export const MAX_USER_METADATA_BYTES = 2048;

/** The size S3 counts for a set of user metadata (see {@link MAX_USER_METADATA_BYTES}). */
export function userMetadataBytes(metadata: Record<string, string>): number {
  let bytes = 0;
  for (const [k, v] of Object.entries(metadata))
    bytes += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
  return bytes;
}

/**
 * True for SSE-KMS (`aws:kms`) and DSSE-KMS (`aws:kms:dsse`): the ETags of such objects, and of the parts
 * of such uploads, are not MD5s of their content ("Object", Amazon S3 API Reference: ETag). Decided from
 * what S3 reports, never from s3-dr's settings: a bucket's default encryption applies without them.
 */
export function isKmsEncrypted(serverSideEncryption: string | undefined): boolean {
  return serverSideEncryption?.startsWith('aws:kms') ?? false;
}

function sameEntries(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/**
 * The user metadata a copy of `head` writes, or `undefined` to keep the source's as it is
 * (`MetadataDirective: COPY`, which carries the content headers along and loses nothing).
 *
 * - A source with `x-amz-missing-meta` is always copied with COPY: S3 holds metadata it could not return,
 *   which a replacing copy would drop.
 * - `record` (a source ETag) is added as `s3dr-source-etag` when the result fits S3's 2 KB; when it does
 *   not, nothing is recorded rather than the copy failing.
 * - `wanted` (restore: the metadata without `s3dr-*`) replaces the source's only where it differs.
 */
export function metadataForCopy(
  head: Pick<ObjectHead, 'metadata' | 'missingMeta'>,
  wanted: Record<string, string> | undefined,
  record: string | undefined,
): Record<string, string> | undefined {
  if (head.missingMeta) return undefined;
  const base = wanted ?? head.metadata;
  if (record !== undefined) {
    const withRecord = { ...base, [META_SOURCE_ETAG]: record };
    if (userMetadataBytes(withRecord) <= MAX_USER_METADATA_BYTES) return withRecord;
  }
  return sameEntries(base, head.metadata) ? undefined : base;
}

/** Write options carrying `metadata` and the source's content headers, or none (a COPY). */
function withMetadata(
  write: WriteOptions,
  head: ObjectHead,
  metadata: Record<string, string> | undefined,
): WriteOptions {
  const {
    metadata: _m,
    contentType: _ct,
    contentEncoding: _ce,
    contentDisposition: _cd,
    contentLanguage: _cl,
    cacheControl: _cc,
    expires: _e,
    websiteRedirectLocation: _w,
    ...rest
  } = write;
  if (metadata === undefined) return rest;
  return {
    ...rest,
    metadata,
    contentType: head.contentType,
    contentEncoding: head.contentEncoding,
    contentDisposition: head.contentDisposition,
    contentLanguage: head.contentLanguage,
    cacheControl: head.cacheControl,
    expires: head.expires,
    websiteRedirectLocation: head.websiteRedirectLocation,
  };
}

export interface CopySettings {
  multipartThreshold: number;
  partSize: number;
  partConcurrency: number;
  /** Stop starting new parts when less than this is left before the deadline. */
  safetyMarginMs: number;
}

export interface CopyObjectInput {
  from: ObjectStore;
  /** The source object as just read; the copy is conditional on its ETag (and version, if any). */
  head: ObjectHead;
  to: ObjectStore;
  toKey: string;
  /** Storage class, tags and KMS key of the copy; metadata and content headers come from `head`. */
  write: WriteOptions;
  /** User metadata the copy carries instead of the source's (restore: without `s3dr-*`). */
  metadata?: Record<string, string>;
  /**
   * The source ETag to record (`s3dr-source-etag`) where the copy's ETag cannot equal it: SSE-KMS or
   * DSSE-KMS on either side, or a single-part source copied in parts. Nothing is recorded otherwise.
   */
  recordEtag?: string;
  settings: CopySettings;
  clock: Clock;
}

export type CopyOutcome = {
  etag: string;
  versionId?: string;
  method: 'copy' | 'multipart';
  parts: number;
  /** Parts found already copied by an earlier, interrupted attempt. */
  resumedParts: number;
  /** The encryption S3 reported for the copy. */
  serverSideEncryption?: string;
  /** Whether the copy carries `s3dr-source-etag`. */
  recorded: boolean;
};

/** The ETag S3 gives a multipart object whose parts have these (MD5) ETags. */
export function multipartEtagOf(partEtags: readonly string[]): string {
  const digest = createHash('md5');
  for (const etag of partEtags) digest.update(Buffer.from(etag, 'hex'));
  return `${digest.digest('hex')}-${partEtags.length}`;
}

/** Byte ranges (inclusive) of each part. */
export function partRanges(sizes: readonly number[]): { partNumber: number; start: number; end: number }[] {
  let offset = 0;
  return sizes.map((size, i) => {
    const range = { partNumber: i + 1, start: offset, end: offset + size - 1 };
    offset += size;
    return range;
  });
}

/** Part sizes for a single-part object copied in parts: uniform, within S3's 10,000-part limit. */
export function uniformPartSizes(total: number, preferred: number): number[] {
  const size = Math.max(preferred, Math.ceil(total / MAX_PARTS));
  const sizes: number[] = [];
  for (let offset = 0; offset < total; offset += size) sizes.push(Math.min(size, total - offset));
  return sizes;
}

/**
 * True when {@link copyObject} copies this object part by part (a multipart source, or one larger than
 * the threshold) rather than with one CopyObject. Callers use it to decide what a copy will cost.
 */
export function copiesInParts(
  head: Pick<ObjectHead, 'etag' | 'size' | 'partsCount' | 'missingMeta'>,
  multipartThreshold: number,
): boolean {
  // Metadata S3 could not return survives only a COPY-directive CopyObject, which takes up to 5 GiB.
  if ((head.missingMeta ?? 0) > 0 && head.size <= MAX_COPY_OBJECT_BYTES) return false;
  return (head.partsCount ?? multipartPartsOf(head.etag)) !== undefined || head.size > multipartThreshold;
}

/**
 * Server-side copy of one object between stores, bytes never passing through this process (docs/design.md,
 * invariant 4). A multipart source is copied with its own part boundaries, so the copy's ETag equals the
 * source's; a single-part source above the threshold is copied in uniform parts; anything else is one
 * CopyObject. Every request is conditional on the source ETag (or pinned to a version), so a concurrent
 * overwrite fails the copy instead of mixing versions.
 *
 * Metadata: see {@link metadataForCopy}. Where the copy's ETag will equal the source's (no SSE-KMS or
 * DSSE-KMS on either side, the same part layout) nothing is recorded and CopyObject keeps the source's
 * metadata with `MetadataDirective: COPY`. Otherwise `recordEtag` is recorded where it fits. The source's
 * encryption is known from its HEAD, the target's from S3's answers: a CopyObject into a KMS bucket is
 * not redone to record (one copy per change), a multipart upload is started once more before its first
 * part. The md5-of-md5s check of a multipart copy runs only where neither side reports KMS.
 *
 * A multipart copy resumes an open upload left by an interrupted attempt (ListMultipartUploads +
 * ListParts) when that upload was started after the source was last written; it stops starting parts
 * before the deadline and leaves the upload open (a {@link DeadlineError}); when the source changed or
 * vanished it aborts the upload, which can never complete.
 */
export async function copyObject(input: CopyObjectInput): Promise<CopyOutcome> {
  const { from, head, to, toKey, settings } = input;
  const source: CopySource = {
    bucket: from.bucket,
    key: head.key,
    ifMatch: head.etag,
    ...(head.versionId && head.versionId !== 'null' ? { versionId: head.versionId } : {}),
  };
  const sourceParts = head.partsCount ?? multipartPartsOf(head.etag);
  if (!copiesInParts(head, settings.multipartThreshold)) {
    // The copy's ETag equals the source's unless KMS is involved (or a multipart source is copied whole).
    // The source's encryption is known from its HEAD; the target's only from the answer, and then one
    // copy per change beats rewriting to record: the verifier compares checksums where nothing is recorded.
    const record =
      isKmsEncrypted(head.serverSideEncryption) || sourceParts !== undefined ? input.recordEtag : undefined;
    const metadata = metadataForCopy(head, input.metadata, record);
    const r = await to.copyFrom(source, toKey, withMetadata(input.write, head, metadata));
    return {
      ...r,
      method: 'copy',
      parts: 1,
      resumedParts: 0,
      recorded: record !== undefined && metadata?.[META_SOURCE_ETAG] === record,
    };
  }
  const sizes =
    sourceParts !== undefined
      ? await from.partSizes(head.key, sourceParts, source.versionId)
      : uniformPartSizes(head.size, settings.partSize);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== head.size) {
    throw new Error(
      `part sizes of s3://${from.bucket}/${head.key} add up to ${total} bytes, not the object's ${head.size}; refusing a copy that would not match`,
    );
  }
  const write: WriteOptions =
    input.write.tags === 'copy'
      ? { ...input.write, tags: await from.getTags(head.key, source.versionId) }
      : input.write;
  return copyInParts({ ...input, write }, source, sizes, sourceParts !== undefined);
}

/**
 * The open upload of this key that can be resumed, with the parts it already holds, and every other open
 * upload of the key aborted. Only an upload begun after the source was written can hold parts of this
 * very version. Last-Modified has whole seconds, so "after" means a second later; and an upload with no
 * part yet is not worth the doubt (it may carry an older version's metadata): both kinds are aborted, not
 * resumed.
 */
async function resumeOpenUpload(
  input: CopyObjectInput,
  ranges: { partNumber: number; start: number; end: number }[],
): Promise<{ uploadId: string | undefined; done: Map<number, string> }> {
  const { head, to, toKey } = input;
  const open = await to.listOpenUploads(toKey);
  const writtenBy = head.lastModified.getTime() + 1000;
  const candidates = open
    .filter((u) => u.initiated.getTime() >= writtenBy)
    .sort((a, b) => b.initiated.getTime() - a.initiated.getTime());
  let uploadId: string | undefined;
  const done = new Map<number, string>();
  for (const candidate of candidates) {
    if (uploadId) break;
    try {
      const parts = await to.listParts(toKey, candidate.uploadId);
      for (const part of parts) {
        const planned = ranges[part.partNumber - 1];
        if (planned && planned.end - planned.start + 1 === part.size) done.set(part.partNumber, part.etag);
      }
      if (done.size > 0) uploadId = candidate.uploadId;
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error; // completed or aborted meanwhile
    }
  }
  await Promise.all(
    open.filter((u) => u.uploadId !== uploadId).map((u) => to.abortMultipart(toKey, u.uploadId)),
  );
  return { uploadId, done };
}

/**
 * Starts the upload. An upload states its metadata when it starts, so it is written explicitly (S3 has no
 * COPY directive for multipart copies), recording the source ETag when `record` is given.
 */
async function startUpload(
  input: CopyObjectInput,
  record: string | undefined,
): Promise<{ uploadId: string; serverSideEncryption?: string; recorded: boolean }> {
  const { head, to, toKey } = input;
  const wanted = input.metadata ?? head.metadata;
  const start = async (rec: string | undefined) => {
    const metadata = metadataForCopy(head, input.metadata, rec) ?? wanted;
    const started = await to.startMultipart(toKey, withMetadata(input.write, head, metadata));
    return { ...started, recorded: rec !== undefined && metadata[META_SOURCE_ETAG] === rec };
  };
  const started = await start(record);
  if (
    record === undefined &&
    input.recordEtag !== undefined &&
    isKmsEncrypted(started.serverSideEncryption) &&
    metadataForCopy(head, input.metadata, input.recordEtag)?.[META_SOURCE_ETAG] === input.recordEtag
  ) {
    // The target encrypts with KMS (its default, or our key): the copy's ETag will not be the source's.
    // Starting over costs two small requests and no bytes, and lets the copy say what it stands for.
    await to.abortMultipart(toKey, started.uploadId);
    return start(input.recordEtag);
  }
  return started;
}

async function copyInParts(
  input: CopyObjectInput,
  source: CopySource,
  sizes: number[],
  sameLayout: boolean,
): Promise<CopyOutcome> {
  const { head, to, toKey, settings, clock } = input;
  const ranges = partRanges(sizes);
  const resumed = await resumeOpenUpload(input, ranges);
  const done = resumed.done;
  const resumedParts = done.size;
  // Encryption S3 reports on this attempt's answers decides the ETag check below.
  const reported: (string | undefined)[] = [];
  const sourceKms = isKmsEncrypted(head.serverSideEncryption);
  let recorded = false;
  let uploadId = resumed.uploadId;
  if (!uploadId) {
    const started = await startUpload(input, sourceKms || !sameLayout ? input.recordEtag : undefined);
    reported.push(started.serverSideEncryption);
    recorded = started.recorded;
    uploadId = started.uploadId;
  }
  const id = uploadId;

  const todo = ranges.filter((r) => !done.has(r.partNumber));
  try {
    await mapConcurrent(todo, settings.partConcurrency, async (range) => {
      if (clock.remainingMs() < settings.safetyMarginMs) {
        throw new DeadlineError(
          `stopped copying s3://${to.bucket}/${toKey} before the deadline with ${done.size}/${ranges.length} parts done; the next attempt resumes upload ${id}`,
        );
      }
      const part = await to.copyPart(source, toKey, id, range.partNumber, range);
      reported.push(part.serverSideEncryption);
      done.set(range.partNumber, part.etag);
    });
  } catch (error) {
    if (error instanceof PreconditionFailedError || error instanceof ObjectNotFoundError) {
      await to.abortMultipart(toKey, id);
    }
    throw error;
  }
  const parts = ranges.map((r) => ({ partNumber: r.partNumber, etag: done.get(r.partNumber) ?? '' }));
  // A multipart source copied with its own boundaries must come out with its own ETag. Where part ETags
  // are MD5s, check that before completing: parts of another version cannot slip in. They are MD5s only
  // when neither the source (its HEAD) nor the target (this attempt's CreateMultipartUpload/UploadPartCopy
  // answers) is KMS-encrypted; a bucket's default encryption counts, whatever s3-dr's settings say. An
  // upload resumed with every part done gives no answer to go by: its parts were copied after the source
  // was written (see above), conditional on its ETag.
  const expectable =
    multipartPartsOf(head.etag) !== undefined &&
    sameLayout &&
    !sourceKms &&
    reported.length > 0 &&
    !reported.some(isKmsEncrypted) &&
    parts.every((p) => /^[0-9a-f]{32}$/.test(p.etag));
  if (expectable && multipartEtagOf(parts.map((p) => p.etag)) !== head.etag) {
    await to.abortMultipart(toKey, id);
    throw new PreconditionFailedError(
      `the parts copied for s3://${to.bucket}/${toKey} do not make up source ETag ${head.etag}; the upload was aborted and the copy starts over`,
    );
  }
  const r = await to.completeMultipart(toKey, id, parts);
  return { ...r, method: 'multipart', parts: ranges.length, resumedParts, recorded };
}
