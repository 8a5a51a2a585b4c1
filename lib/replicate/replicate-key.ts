import type { Config } from '../core/config.ts';
import {
  ObjectArchivedError,
  ObjectNotFoundError,
  PreconditionFailedError,
  SourceChangedError,
  SseCustomerKeyRequiredError,
} from '../core/errors.ts';
import { toDrKey } from '../core/key-mapping.ts';
import { compareChecksums } from '../core/object-checksums.ts';
import type { Clock, ObjectHead, ObjectStore, WriteOptions } from '../core/ports.ts';
import { decideRule } from '../core/replication-rules.ts';
import { multipartPartsOf, type Task } from '../core/task.ts';
import type { Log } from '../core/telemetry.ts';
import { type UnreplicableReason, unreplicableReason } from '../core/unreplicable.ts';
import { type CopySettings, copyObject, META_PREFIX, META_SOURCE_ETAG } from './copy-object.ts';
import { unreplicableOutcome } from './unreplicable.ts';

export { META_PREFIX, META_SOURCE_ETAG } from './copy-object.ts';
/** Up to this size, a freshly uploaded object is copied without looking at the DR copy first. */
export const BLIND_COPY_MAX_BYTES = 1024 * 1024;

export type ReplicateSettings = Pick<
  Config,
  'deletePolicy' | 'keyLayout' | 'drStorageClass' | 'drKmsKeyId' | 'copyTags'
> &
  // Optional: thawing archived sources is opt-in (off when unset).
  Partial<Pick<Config, 'thawArchivedSources' | 'thawDays' | 'thawTier' | 'rules'>> &
  CopySettings;

export interface ReplicateDeps {
  /** The task's source bucket. */
  source: ObjectStore;
  dr: ObjectStore;
  clock: Clock;
  settings: ReplicateSettings;
  log: Log;
}

export type ReplicateOutcome =
  | {
      kind: 'copied';
      drKey: string;
      bytes: number;
      etag: string;
      method: 'copy' | 'multipart';
      requests: string[];
    }
  | { kind: 'deleted'; drKey: string; requests: string[] }
  | { kind: 'retained'; drKey: string; requests: string[] }
  | { kind: 'skipped'; drKey: string; reason: 'identical' | 'already-absent'; requests: string[] }
  /**
   * A replication rule excludes the key (`replicate: false`): DR is left as it is — a copy made while
   * the key was under another rule is kept, neither updated nor deleted (docs/replication-rules.md#decisions).
   */
  | { kind: 'excluded'; drKey: string; rule: string; requests: string[] }
  /** The DR copy had the source's bytes and metadata but not its tags: only its tag set was written. */
  | { kind: 'tagged'; drKey: string; tags: number; requests: string[] }
  /** S3 cannot copy the source as it is (archived, SSE-C): reported, never retried (docs/design.md, invariant 7). */
  | { kind: 'unreplicable'; drKey: string; reason: UnreplicableReason; requests: string[] }
  /** An archived source is being restored; its `ObjectRestore:Completed` event brings the copy. */
  | {
      kind: 'thawing';
      drKey: string;
      reason: UnreplicableReason;
      thaw: 'started' | 'in-progress';
      requests: string[];
    };

/**
 * The source ETag a DR copy stands for: recorded in metadata where the DR ETag differs by construction
 * (and the record fits S3's metadata limit); otherwise the DR copy's own ETag.
 */
export function recordedSourceEtag(dr: Pick<ObjectHead, 'etag' | 'metadata'>): string {
  return dr.metadata[META_SOURCE_ETAG] ?? dr.etag;
}

/** User metadata of a source object without any `s3dr-*` keys: what a DR copy carries of it. */
export function drMetadataFor(src: ObjectHead): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(src.metadata)) if (!k.startsWith(META_PREFIX)) metadata[k] = v;
  return metadata;
}

function isCreate(task: Task): boolean {
  return task.eventName.startsWith('ObjectCreated:');
}

/**
 * Makes the DR copy of one key match the source's current state (docs/design.md, invariant 1: the event is a
 * hint, the source is the truth).
 *
 * Common case — a put event of a small single-part object: one CopyObject conditional on the event's
 * ETag, which copies metadata, content headers and (optionally) tags as they are. Larger objects and
 * copy events (restores, in-place metadata changes) first HEAD the DR copy, so that writing back what DR
 * already holds costs no copy. Every other case, and a
 * conditional copy that fails because the source moved on, reads the source with HEAD and reconciles:
 * copy what differs (recording the source ETag in `s3dr-source-etag`), apply the delete policy to what
 * is gone, skip what is identical. The source changing twice under us fails the task, to be retried.
 */
export async function replicateKey(task: Task, deps: ReplicateDeps): Promise<ReplicateOutcome> {
  const drKey = toDrKey(deps.settings.keyLayout, task.bucket, task.key);
  const requests: string[] = [];
  const rules = deps.settings.rules ?? [];
  if (rules.length > 0) {
    // Every task re-decides the key's rule from the source as it is now (invariant 1), so a tag change
    // (its ObjectTagging event) moves the key to its new rule's settings.
    let read: { from: 'source' | 'dr'; tags: Record<string, string> } | undefined;
    const decision = await decideRule(rules, task.key, deps.settings, async () => {
      read = await tagsForRule(task, drKey, deps, requests);
      return read.tags;
    });
    if (!decision.replicate) {
      // Excluded by the source's tags: the DR copy (if any) takes those tags, bytes untouched, so that a
      // later delete — decided by the DR copy's tags once the source is gone — and the verifier see the
      // key as excluded too, rather than under the rule it left.
      if (read?.from === 'source') await excludedTags(drKey, read.tags, deps, requests);
      return { kind: 'excluded', drKey, rule: decision.rule, requests };
    }
    deps = {
      ...deps,
      settings: {
        ...deps.settings,
        drStorageClass: decision.drStorageClass,
        deletePolicy: decision.deletePolicy,
      },
    };
  }
  if (isCreate(task) && task.etag && task.drEtag === undefined && multipartPartsOf(task.etag) === undefined) {
    const fast = await tryConditionalCopy(task, task.etag, drKey, deps, requests);
    if (fast) return fast;
  }
  return reconcile(task, drKey, deps, requests);
}

async function tryConditionalCopy(
  task: Task,
  etag: string,
  drKey: string,
  deps: ReplicateDeps,
  requests: string[],
): Promise<ReplicateOutcome | undefined> {
  const { settings } = deps;
  if ((task.size ?? 0) > settings.multipartThreshold) return undefined;
  // A small object freshly uploaded is copied blind: one conditional COPY is cheaper than a HEAD plus a
  // COPY, and a duplicate event merely copies it again. Larger objects, and copies (which is how
  // restores and in-place metadata changes write), are first compared with the DR copy.
  const blind =
    (task.eventName === 'ObjectCreated:Put' || task.eventName === 'ObjectCreated:Post') &&
    task.size !== undefined &&
    task.size <= BLIND_COPY_MAX_BYTES;
  if (!blind) {
    requests.push('HEAD dr');
    const drHead = await deps.dr.head(drKey);
    if (
      drHead &&
      recordedSourceEtag(drHead) === etag &&
      (task.size === undefined || drHead.size === task.size) &&
      inRuleStorageClass(drHead, settings)
    ) {
      // Same bytes. A DR copy written after this event (Last-Modified has whole seconds: strictly after)
      // already reflects it: a duplicate costs this one HEAD. Otherwise the same bytes may carry new
      // metadata — an in-place copy (`ObjectCreated:Copy`, how metadata is changed) or a rewrite — so
      // the source is read and compared.
      const rewrite =
        task.eventName === 'ObjectCreated:Copy' ||
        drHead.lastModified.getTime() <= Date.parse(task.eventTime);
      if (!rewrite) return { kind: 'skipped', drKey, reason: 'identical', requests };
      return undefined;
    }
  }
  try {
    requests.push('COPY');
    await deps.dr.copyFrom({ bucket: task.bucket, key: task.key, ifMatch: etag }, drKey, {
      storageClass: settings.drStorageClass,
      tags: settings.copyTags ? 'copy' : undefined,
      kmsKeyId: settings.drKmsKeyId,
    });
    // With SSE-KMS or DSSE-KMS (source or DR) the copy's ETag is not the source's. The copy is right all
    // the same (CopySourceIfMatch pinned the version) and final: one copy per change. It records nothing;
    // the verifier settles such keys by their full-object checksums (docs/verification.md#what-it-checks).
    // The copy took the source's metadata as it was at that moment; under mirror, confirm it still exists.
    if (settings.deletePolicy === 'mirror') return confirmCopy(task, drKey, { etag }, deps, requests, 'copy');
    return { kind: 'copied', drKey, bytes: task.size ?? 0, etag, method: 'copy', requests };
  } catch (error) {
    if (
      error instanceof PreconditionFailedError ||
      error instanceof ObjectNotFoundError ||
      // Archived or SSE-C: the source's HEAD says which, in reconcile.
      error instanceof ObjectArchivedError ||
      error instanceof SseCustomerKeyRequiredError
    ) {
      deps.log.info('source moved on since the event; reconciling from its current state', {
        bucket: task.bucket,
        key: task.key,
        etag,
        action: 'reconcile',
        reason: error.name,
      });
      return undefined;
    }
    throw error;
  }
}

/**
 * Under `mirror`, a copy that was in flight while the source was deleted (or overwritten) can land
 * after the delete task found DR empty. One HEAD of the source after the copy closes that window: the
 * copy stands only if the source still holds what was copied; otherwise reconcile again.
 */
async function confirmCopy(
  task: Task,
  drKey: string,
  copied: { etag: string; head?: ObjectHead },
  deps: ReplicateDeps,
  requests: string[],
  method: 'copy' | 'multipart',
  bytes = task.size ?? 0,
): Promise<ReplicateOutcome> {
  requests.push('HEAD source');
  const now = await deps.source.head(task.key);
  const unchanged =
    now !== undefined && now.etag === copied.etag && (!copied.head || sameMetadata(now, copied.head));
  if (unchanged) return { kind: 'copied', drKey, bytes, etag: copied.etag, method, requests };
  deps.log.info('source changed while it was being copied; reconciling again', {
    bucket: task.bucket,
    key: task.key,
    etag: copied.etag,
    action: 'reconcile',
  });
  return reconcile(task, drKey, deps, requests);
}

/** User metadata (without s3dr-*) and content headers are the same. */
export function sameMetadata(a: ObjectHead, b: ObjectHead): boolean {
  const userMeta = (m: Record<string, string>) =>
    JSON.stringify(
      Object.entries(m)
        .filter(([k]) => !k.startsWith(META_PREFIX))
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
    );
  return (
    userMeta(a.metadata) === userMeta(b.metadata) &&
    a.contentType === b.contentType &&
    a.contentEncoding === b.contentEncoding &&
    a.contentDisposition === b.contentDisposition &&
    a.contentLanguage === b.contentLanguage &&
    a.cacheControl === b.cacheControl
  );
}

/** True when the DR copy stands for this very source object: content, user metadata, headers. */
export function sameObject(src: ObjectHead, dr: ObjectHead): boolean {
  return recordedSourceEtag(dr) === src.etag && dr.size === src.size && sameMetadata(src, dr);
}

/**
 * A DR copy that records no source ETag although its ETag differs — KMS on either side, or metadata at
 * S3's limit — stands for the source when size, metadata and full-object checksums (computed by S3 on the
 * plaintext) agree. Two GetObjectAttributes are cheaper than copying the object again.
 */
async function sameByChecksums(
  src: ObjectHead,
  dr: ObjectHead,
  drKey: string,
  deps: ReplicateDeps,
  requests: string[],
): Promise<boolean> {
  if (dr.metadata[META_SOURCE_ETAG] !== undefined || dr.etag === src.etag) return false;
  if (dr.size !== src.size || !sameMetadata(src, dr)) return false;
  requests.push('ATTRIBUTES source', 'ATTRIBUTES dr');
  const [a, b] = await Promise.all([deps.source.checksums(src.key), deps.dr.checksums(drKey)]);
  return compareChecksums(a, b).kind === 'same';
}

/**
 * With replication rules, a DR copy must be in its rule's storage class: one in another class (the key
 * moved to another rule, or the rule changed) is copied again in the right one. HEAD names no class for
 * S3 Standard: "Amazon S3 returns this header for all objects except for S3 Standard storage class
 * objects" (HeadObject, Amazon S3 API Reference). Without rules nothing changes: the stage's class
 * applies to new copies only, as before.
 */
export function inRuleStorageClass(
  dr: Pick<ObjectHead, 'storageClass'>,
  settings: Pick<ReplicateSettings, 'rules' | 'drStorageClass'>,
): boolean {
  if (!settings.rules?.length) return true;
  return (dr.storageClass ?? 'STANDARD') === settings.drStorageClass;
}

/**
 * The tags a tag rule is decided by: the source's now, or — once the source is gone (a delete) — the
 * tags its DR copy carries (copyTags, which tag rules require, keeps them equal). A key with neither has
 * no tags.
 */
async function tagsForRule(
  task: Task,
  drKey: string,
  deps: ReplicateDeps,
  requests: string[],
): Promise<{ from: 'source' | 'dr'; tags: Record<string, string> }> {
  try {
    requests.push('GET tags source');
    return { from: 'source', tags: await deps.source.getTags(task.key) };
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  try {
    requests.push('GET tags dr');
    return { from: 'dr', tags: await deps.dr.getTags(drKey) };
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    return { from: 'dr', tags: {} };
  }
}

/**
 * Gives the DR copy of a key its source's tags when those tags exclude it: one GetObjectTagging of the
 * DR copy, and a PutObjectTagging only where they differ. No DR copy: nothing to do.
 */
async function excludedTags(
  drKey: string,
  tags: Record<string, string>,
  deps: ReplicateDeps,
  requests: string[],
): Promise<void> {
  try {
    requests.push('GET tags dr');
    if (sameTags(await deps.dr.getTags(drKey), tags)) return;
    requests.push('PUT tags dr');
    await deps.dr.putTags(drKey, tags);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
}

/**
 * The verifier's deep mode found this very DR copy (by its ETag) to hold other bytes than the source,
 * although its metadata vouches for the source ETag: it is rewritten, not trusted.
 */
function condemned(task: Task, dr: ObjectHead): boolean {
  return task.drEtag !== undefined && task.drEtag === dr.etag;
}

async function reconcile(
  task: Task,
  drKey: string,
  deps: ReplicateDeps,
  requests: string[],
): Promise<ReplicateOutcome> {
  const { settings } = deps;
  const attempts = 2;
  // Confirming a copy or a delete can come back here; a key that keeps changing under us is retried
  // later (the task fails) rather than chased forever.
  if (requests.length > 24) {
    throw new SourceChangedError(`s3://${task.bucket}/${task.key} keeps changing; the task will be retried`);
  }
  for (let attempt = 1; attempt <= attempts; attempt++) {
    requests.push('HEAD source');
    let src: ObjectHead | undefined;
    try {
      src = await deps.source.head(task.key);
    } catch (error) {
      // Without the customer's key S3 refuses even the HEAD of an SSE-C object.
      if (error instanceof SseCustomerKeyRequiredError) {
        return unreplicableOutcome(task, drKey, undefined, 'sse-c', deps, requests);
      }
      throw error;
    }
    if (!src) return applyDeletePolicy(task, drKey, deps, requests);
    requests.push('HEAD dr');
    const drHead = await deps.dr.head(drKey);
    if (
      drHead &&
      !condemned(task, drHead) &&
      inRuleStorageClass(drHead, settings) &&
      (sameObject(src, drHead) || (await sameByChecksums(src, drHead, drKey, deps, requests)))
    ) {
      const tagged = settings.copyTags ? await syncTags(task, drKey, src, drHead, deps, requests) : undefined;
      return tagged ?? { kind: 'skipped', drKey, reason: 'identical', requests };
    }
    const unreplicable = unreplicableReason(src);
    if (unreplicable) return unreplicableOutcome(task, drKey, src, unreplicable, deps, requests);
    const copied = await copyAttempt(task, drKey, src, deps, requests, attempt);
    if (copied) return copied;
  }
  throw new SourceChangedError(
    `s3://${task.bucket}/${task.key} changed during ${attempts} copy attempts; the task will be retried`,
  );
}

/**
 * One copy of what the source HEAD read, confirmed; undefined when the source changed under it (or
 * turned out unreadable), to be read again.
 */
async function copyAttempt(
  task: Task,
  drKey: string,
  src: ObjectHead,
  deps: ReplicateDeps,
  requests: string[],
  attempt: number,
): Promise<ReplicateOutcome | undefined> {
  const { settings } = deps;
  const write: WriteOptions = {
    storageClass: settings.drStorageClass,
    tags: settings.copyTags ? 'copy' : undefined,
    kmsKeyId: settings.drKmsKeyId,
  };
  try {
    // Metadata is copied as it is (COPY directive) unless the DR ETag cannot equal the source's; then
    // the source ETag is recorded, where it fits (copyObject).
    const r = await copyObject({
      from: deps.source,
      head: src,
      to: deps.dr,
      toKey: drKey,
      write,
      metadata: drMetadataFor(src),
      recordEtag: src.etag,
      settings,
      clock: deps.clock,
    });
    requests.push(r.method === 'copy' ? 'COPY' : `MULTIPART(${r.parts})`);
    if (r.resumedParts > 0) {
      deps.log.info('resumed an interrupted multipart copy', {
        bucket: task.bucket,
        key: task.key,
        action: 'resume',
        resumedParts: r.resumedParts,
        parts: r.parts,
      });
    }
    // The copy wrote the metadata read by our HEAD. Same-bytes versions share an ETag, so a rewrite in
    // between would pass CopySourceIfMatch: confirm the source still has what we wrote (and, under
    // mirror, still exists).
    return confirmCopy(task, drKey, { etag: src.etag, head: src }, deps, requests, r.method, src.size);
  } catch (error) {
    // Archived or SSE-C although the HEAD said readable (a restored copy expired, a tier changed):
    // the next HEAD classifies it.
    const unreadable = error instanceof ObjectArchivedError || error instanceof SseCustomerKeyRequiredError;
    if (!(error instanceof PreconditionFailedError || error instanceof ObjectNotFoundError || unreadable)) {
      throw error;
    }
    deps.log.info('source changed during the copy; reading it again', {
      bucket: task.bucket,
      key: task.key,
      etag: src.etag,
      action: 'retry',
      attempt,
    });
  }
  return undefined;
}

/**
 * Tasks that may stand for a tag change the HEADs' tag counts cannot show (same number of tags, other
 * keys or values): tag events, in-place copies (which may replace the tags) and the verifier's repairs.
 * For every other task equal counts are trusted: a tag change always comes with its own event.
 */
function comparesTagSets(task: Task): boolean {
  return (
    task.eventName.startsWith('ObjectTagging:') ||
    task.eventName === 'ObjectCreated:Copy' ||
    task.eventName.startsWith('Verify:')
  );
}

/** The version to pin a request to: S3's `null` version is the current one of an unversioned key. */
function pinned(versionId: string | undefined): string | undefined {
  return versionId && versionId !== 'null' ? versionId : undefined;
}

/** True when two tag sets hold the same keys with the same values (order does not matter). */
export function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const entries = (t: Record<string, string>) =>
    JSON.stringify(Object.entries(t).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return entries(a) === entries(b);
}

/**
 * Tag-only changes (copyTags on): S3 changes neither the ETag nor Last-Modified when tags change, so a
 * DR copy with the source's bytes and metadata can still carry stale tags. The HEADs' tag counts
 * (`x-amz-tagging-count`, returned only to a caller allowed to read tags: replicate's role has
 * s3:GetObjectTagging on both buckets) decide without another request when both are 0; when they differ, the source's tags are read and written on
 * the DR copy with PutObjectTagging (or removed with DeleteObjectTagging) — no copy of the bytes. Equal,
 * non-zero counts are compared with GetObjectTagging on both sides only for tasks that may stand for a
 * tag change ({@link comparesTagSets}).
 *
 * The event is a hint, the source is the truth (docs/design.md, invariant 1): the tags written are the
 * ones read from the source now, pinned to the versions the HEADs saw, and the source's tags are read
 * again after the write — a concurrent task may have written newer tags in between, which this one must
 * not leave overwritten with older ones. A source that vanished meanwhile is reconciled again.
 */
async function syncTags(
  task: Task,
  drKey: string,
  src: ObjectHead,
  dr: ObjectHead,
  deps: ReplicateDeps,
  requests: string[],
): Promise<ReplicateOutcome | undefined> {
  const srcCount = src.tagCount ?? 0;
  const drCount = dr.tagCount ?? 0;
  if (srcCount === 0 && drCount === 0) return undefined;
  if (srcCount === drCount && !comparesTagSets(task)) return undefined;
  const srcVersion = pinned(src.versionId);
  const drVersion = pinned(dr.versionId);
  try {
    let tags: Record<string, string> = {};
    if (srcCount > 0) {
      requests.push('GET tags source');
      tags = await deps.source.getTags(task.key, srcVersion);
    }
    if (srcCount === drCount) {
      requests.push('GET tags dr');
      if (sameTags(tags, await deps.dr.getTags(drKey, drVersion))) return undefined;
    }
    for (let attempt = 1; attempt <= 3; attempt++) {
      requests.push(Object.keys(tags).length > 0 ? 'PUT tags dr' : 'DELETE tags dr');
      await deps.dr.putTags(drKey, tags, drVersion);
      requests.push('GET tags source');
      const now = await deps.source.getTags(task.key, srcVersion);
      if (sameTags(now, tags)) return { kind: 'tagged', drKey, tags: Object.keys(tags).length, requests };
      deps.log.info('source tags changed while they were being replicated; writing them again', {
        bucket: task.bucket,
        key: task.key,
        action: 'retag',
        attempt,
      });
      tags = now;
    }
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    deps.log.info('object vanished while its tags were being replicated; reconciling again', {
      bucket: task.bucket,
      key: task.key,
      action: 'reconcile',
    });
    return reconcile(task, drKey, deps, requests);
  }
  throw new SourceChangedError(
    `the tags of s3://${task.bucket}/${task.key} keep changing; the task will be retried`,
  );
}

async function applyDeletePolicy(
  task: Task,
  drKey: string,
  deps: ReplicateDeps,
  requests: string[],
): Promise<ReplicateOutcome> {
  if (deps.settings.deletePolicy === 'retain') return { kind: 'retained', drKey, requests };
  requests.push('HEAD dr');
  const drHead = await deps.dr.head(drKey);
  if (!drHead) return { kind: 'skipped', drKey, reason: 'already-absent', requests };
  // The DR bucket is versioned: this leaves a delete marker and keeps the data as a noncurrent version.
  requests.push('DELETE dr');
  await deps.dr.remove(drKey);
  // A put of the same key replicated by a concurrent task between our HEAD and our DELETE was just
  // removed with it: if the source exists again, copy it back.
  requests.push('HEAD source');
  if (await deps.source.head(task.key)) return reconcile(task, drKey, deps, requests);
  return { kind: 'deleted', drKey, requests };
}
