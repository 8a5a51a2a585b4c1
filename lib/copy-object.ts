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
 * Server-side copy of one object between stores, bytes never passing through this process (DESIGN
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

async function copyInParts(input: CopyObjectInput, source: CopySource, sizes: number[]): Promise<CopyOutcome> {
  const { head, to, toKey, settings, clock } = input;
  const ranges = partRanges(sizes);
  const open = await to.listOpenUploads(toKey);
  // An upload started after the source was last written can only hold parts of this very version.
  const usable = open
    .filter((u) => u.initiated.getTime() >= head.lastModified.getTime())
    .sort((a, b) => b.initiated.getTime() - a.initiated.getTime());
  const stale = open.filter((u) => !usable.includes(u));
  await Promise.all(stale.map((u) => to.abortMultipart(toKey, u.uploadId)));

  let uploadId = usable[0]?.uploadId;
  const done = new Map<number, string>();
  if (uploadId) {
    try {
      for (const part of await to.listParts(toKey, uploadId)) {
        const planned = ranges[part.partNumber - 1];
        if (planned && planned.end - planned.start + 1 === part.size) done.set(part.partNumber, part.etag);
      }
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
      uploadId = undefined; // completed or aborted meanwhile by a concurrent attempt
    }
  }
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
  const r = await to.completeMultipart(toKey, id, parts);
  return { ...r, method: 'multipart', parts: ranges.length, resumedParts };
}
