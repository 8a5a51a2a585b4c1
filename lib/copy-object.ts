import { createHash } from 'node:crypto';
import { DeadlineError, ObjectNotFoundError, PreconditionFailedError } from './errors.ts';
import { mapConcurrent } from './map-concurrent.ts';
import type { Clock, CopySource, ObjectHead, ObjectStore, WriteOptions } from './ports.ts';
import { multipartPartsOf } from './task.ts';

/** S3 allows at most this many parts in one upload. */
const MAX_PARTS = 10_000;

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
  write: WriteOptions;
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
  head: Pick<ObjectHead, 'etag' | 'size' | 'partsCount'>,
  multipartThreshold: number,
): boolean {
  return (head.partsCount ?? multipartPartsOf(head.etag)) !== undefined || head.size > multipartThreshold;
}

/**
 * Server-side copy of one object between stores, bytes never passing through this process (docs/design.md,
 * invariant 4). A multipart source is copied with its own part boundaries, so the copy's ETag equals the
 * source's; a single-part source above the threshold is copied in uniform parts; anything else is one
 * CopyObject. Every request is conditional on the source ETag (or pinned to a version), so a concurrent
 * overwrite fails the copy instead of mixing versions.
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
  if (sourceParts === undefined && head.size <= settings.multipartThreshold) {
    const r = await to.copyFrom(source, toKey, input.write);
    return { ...r, method: 'copy', parts: 1, resumedParts: 0 };
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
  return copyInParts({ ...input, write }, source, sizes);
}

async function copyInParts(
  input: CopyObjectInput,
  source: CopySource,
  sizes: number[],
): Promise<CopyOutcome> {
  const { head, to, toKey, settings, clock } = input;
  const ranges = partRanges(sizes);
  const open = await to.listOpenUploads(toKey);
  // Only an upload begun after the source was written can hold parts of this very version. Last-Modified
  // has whole seconds, so "after" means a second later; and an upload with no part yet is not worth the
  // doubt (it may carry an older version's metadata): both kinds are aborted, not resumed.
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
  const resumedParts = done.size;
  uploadId ??= await to.startMultipart(toKey, input.write);
  const id = uploadId;

  const todo = ranges.filter((r) => !done.has(r.partNumber));
  try {
    await mapConcurrent(todo, settings.partConcurrency, async (range) => {
      if (clock.remainingMs() < settings.safetyMarginMs) {
        throw new DeadlineError(
          `stopped copying s3://${to.bucket}/${toKey} before the deadline with ${done.size}/${ranges.length} parts done; the next attempt resumes upload ${id}`,
        );
      }
      const etag = await to.copyPart(source, toKey, id, range.partNumber, range);
      done.set(range.partNumber, etag);
    });
  } catch (error) {
    if (error instanceof PreconditionFailedError || error instanceof ObjectNotFoundError) {
      await to.abortMultipart(toKey, id);
    }
    throw error;
  }
  const parts = ranges.map((r) => ({ partNumber: r.partNumber, etag: done.get(r.partNumber) ?? '' }));
  // A multipart source copied with its own boundaries must come out with its own ETag. Where part ETags
  // are MD5s (no SSE-KMS), check that before completing: parts of another version cannot slip in.
  const expectable =
    multipartPartsOf(head.etag) !== undefined &&
    head.serverSideEncryption !== 'aws:kms' &&
    !input.write.kmsKeyId &&
    parts.every((p) => /^[0-9a-f]{32}$/.test(p.etag));
  if (expectable && multipartEtagOf(parts.map((p) => p.etag)) !== head.etag) {
    await to.abortMultipart(toKey, id);
    throw new PreconditionFailedError(
      `the parts copied for s3://${to.bucket}/${toKey} do not make up source ETag ${head.etag}; the upload was aborted and the copy starts over`,
    );
  }
  const r = await to.completeMultipart(toKey, id, parts);
  return { ...r, method: 'multipart', parts: ranges.length, resumedParts };
}
