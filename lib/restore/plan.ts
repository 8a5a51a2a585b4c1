/**
 * The restore planner: which DR version of each key to bring back, whether the target already has it,
 * and whether it must be thawed first. It reads (lists and HEADs) and never writes; the executor in
 * restore-objects.ts acts on its plans, and a dry run reports them as they are.
 */
import type { Config } from '../core/config.ts';
import { ListingOrderError, RestoreRefusedError } from '../core/errors.ts';
import { drPrefixFor, fromDrKey, MAX_KEY_BYTES, toDrKey } from '../core/key-mapping.ts';
import { compareKeys } from '../core/key-order.ts';
import type { ListingDisorder } from '../core/merge-listings.ts';
import { compareChecksums } from '../core/object-checksums.ts';
import type { ListedVersion, ObjectHead, ObjectStore } from '../core/ports.ts';
import type { ThawTier } from '../core/storage-classes.ts';
import { META_SOURCE_ETAG } from '../replicate/copy-object.ts';
import { recordedSourceEtag } from '../replicate/replicate-key.ts';
import { InvalidRestorePayloadError, type OverwriteMode, type RestorePayload } from './payload.ts';

export type RestoreSettings = Pick<
  Config,
  | 'sourceBuckets'
  | 'sourceRegion'
  | 'drBucket'
  | 'drRegion'
  | 'restoreTargets'
  | 'restoreTargetRegion'
  | 'stackRole'
  | 'keyLayout'
  | 'deletePolicy'
  | 'multipartThreshold'
  | 'partSize'
  | 'partConcurrency'
  | 'safetyMarginMs'
  | 'restoreConcurrency'
>;

/** A restore request checked against the stage: which bucket it reads for, and where it may write. */
export interface ResolvedRestore {
  source: string;
  target: { bucket: string; prefix: string; region: string };
}

/**
 * Checks a request against the stage before anything is read or written: the source must be a
 * protected bucket, and the target the source itself or a bucket on the restore allow-list
 * (`S3DR_RESTORE_TARGETS`) — never the DR bucket. The target's region is the source region for a source
 * bucket; otherwise `target.region`, else `S3DR_RESTORE_TARGET_REGION`, else the region this stack runs
 * in (the DR region for the `dr` stack), so a restore run from the DR region while the source region is
 * down talks only to the DR region.
 *
 * @throws RestoreRefusedError when the request aims somewhere it must not.
 */
export function resolveRestore(payload: RestorePayload, settings: RestoreSettings): ResolvedRestore {
  const protectedList = settings.sourceBuckets.join(', ');
  let source = payload.source;
  if (source === undefined) {
    if (settings.sourceBuckets.length !== 1) {
      throw new InvalidRestorePayloadError(
        `Invalid restore payload: source: is required when the stage protects several buckets (one of ${protectedList})`,
      );
    }
    source = settings.sourceBuckets[0] as string;
  } else if (!settings.sourceBuckets.includes(source)) {
    throw new RestoreRefusedError(
      `Restore refused: source ${source} is not a bucket this stage protects (${protectedList}); nothing was written`,
    );
  }
  const bucket = payload.target?.bucket ?? source;
  if (bucket === settings.drBucket) {
    throw new RestoreRefusedError(
      `Restore refused: target.bucket ${bucket} is the DR bucket itself; a restore never writes into the backup. Nothing was written`,
    );
  }
  if (bucket !== source && !settings.restoreTargets.includes(bucket)) {
    const allowed = settings.restoreTargets.length > 0 ? settings.restoreTargets.join(', ') : 'empty';
    throw new RestoreRefusedError(
      `Restore refused: target.bucket ${bucket} is not on this stage's restore allow-list. A restore writes only into its source bucket (${source}) or a bucket in the restoreTargets parameter (S3DR_RESTORE_TARGETS: ${allowed}); add it there and deploy to allow it. Nothing was written`,
    );
  }
  const requested = payload.target?.region;
  let region: string;
  if (settings.sourceBuckets.includes(bucket)) {
    if (requested !== undefined && requested !== settings.sourceRegion) {
      throw new RestoreRefusedError(
        `Restore refused: target.region ${requested}: ${bucket} is a protected source bucket, which lives in ${settings.sourceRegion}. Nothing was written`,
      );
    }
    region = settings.sourceRegion;
  } else {
    region =
      requested ??
      settings.restoreTargetRegion ??
      (settings.stackRole === 'dr' ? settings.drRegion : settings.sourceRegion);
  }
  return { source, target: { bucket, prefix: payload.target?.prefix ?? '', region } };
}

/** What planning needs to know of an object the target already holds. */
export interface TargetObject {
  etag: string;
  size: number;
}

/** One key to consider: its DR entries newest first, or undefined until loaded (keys mode loads lazily). */
export interface Candidate {
  key: string;
  drKey: string;
  versions?: ListedVersion[];
  /** The target's object under the key, from a listing: `null` = none; undefined = not looked up (HEAD). */
  targetObject?: TargetObject | null;
}

/** Newest first; on equal timestamps the latest entry, then an object version before a delete marker. */
function newestFirst(a: ListedVersion, b: ListedVersion): number {
  const byTime = b.lastModified.getTime() - a.lastModified.getTime();
  if (byTime !== 0) return byTime;
  if (a.isLatest !== b.isLatest) return a.isLatest ? -1 : 1;
  return Number(a.deleteMarker) - Number(b.deleteMarker);
}

export type VersionSelection =
  /** `deleted`: the key's newest entry at the time was a delete marker; `version` is the one before it. */
  | { kind: 'version'; version: ListedVersion; deleted: boolean }
  /** Deleted at the time, with no older version left in DR. */
  | { kind: 'deleted' }
  /** No DR entry at or before the time: the key did not exist yet (or its history expired). */
  | { kind: 'none' };

/**
 * Picks the DR version a point-in-time restore brings back: the key's newest entry at or before `asOf`
 * (or its newest entry at all). When that entry is a delete marker the key was deleted at the time, and
 * the version before the marker is returned with `deleted: true`.
 */
export function selectVersion(versions: readonly ListedVersion[], asOf: Date | undefined): VersionSelection {
  const eligible = versions
    .filter((v) => asOf === undefined || v.lastModified.getTime() <= asOf.getTime())
    .sort(newestFirst);
  const newest = eligible[0];
  if (!newest) return { kind: 'none' };
  if (!newest.deleteMarker) return { kind: 'version', version: newest, deleted: false };
  const before = eligible.find((v) => !v.deleteMarker);
  return before ? { kind: 'version', version: before, deleted: true } : { kind: 'deleted' };
}

/** The version id to address, or undefined for an object in an unversioned bucket. */
export function versionIdOf(version: Pick<ListedVersion, 'versionId'>): string | undefined {
  return version.versionId && version.versionId !== 'null' ? version.versionId : undefined;
}

function asVersion(o: {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
  storageClass?: string;
}) {
  return { ...o, versionId: 'null', isLatest: true, deleteMarker: false } satisfies ListedVersion;
}

/** All DR entries of exactly `drKey`, newest first. */
export async function loadVersions(
  dr: ObjectStore,
  drKey: string,
  versioned: boolean,
): Promise<ListedVersion[]> {
  if (!versioned) {
    // The key itself sorts first among the keys it prefixes.
    const page = await dr.list({ prefix: drKey, maxKeys: 1 });
    return page.objects.filter((o) => o.key === drKey).map(asVersion);
  }
  const out: ListedVersion[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await dr.listVersions({ prefix: drKey, keyMarker, versionIdMarker, maxKeys: 1000 });
    out.push(...page.versions.filter((v) => v.key === drKey));
    // Entries come in key order and drKey is the smallest key with this prefix: another key means done.
    if (!page.nextKeyMarker || page.versions.some((v) => v.key !== drKey)) break;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
  return out.sort(newestFirst);
}

/**
 * The candidates of a prefix restore, in S3 key order, starting after `afterKey` (a source key, from a
 * cursor): ListObjectVersions when the DR bucket is versioned, ListObjectsV2 of its current objects when
 * it is not. A key's versions may straddle pages; they are gathered before the key is yielded. Keys of
 * s3-dr's own state and of other source buckets are never candidates.
 *
 * A key that comes back out of order (a repeat, or a step back: an endpoint that sorts differently from
 * S3, or ignores `EncodingType=url`) is handed to `onDisorder` and left out — the walk goes on, and the
 * caller names the key so it can be restored by `keys`.
 *
 * @throws ListingOrderError on such a key when there is no `onDisorder`: a cursor taken from such a
 *   listing could skip keys.
 */
export async function* prefixCandidates(
  dr: ObjectStore,
  resolved: ResolvedRestore,
  prefix: string,
  settings: Pick<RestoreSettings, 'keyLayout'>,
  versioned: boolean,
  afterKey: string | undefined,
  onDisorder?: (disorder: ListingDisorder) => void,
): AsyncGenerator<Candidate> {
  const layout = settings.keyLayout;
  const drPrefix = drPrefixFor(layout, resolved.source) + prefix;
  const after = afterKey === undefined ? undefined : toDrKey(layout, resolved.source, afterKey);
  let last = after;
  const emit = (drKey: string, versions: ListedVersion[]): Candidate | undefined => {
    if (last !== undefined && compareKeys(drKey, last) <= 0 && onDisorder) {
      onDisorder({
        listing: 'DR',
        key: fromDrKey(layout, resolved.source, drKey) ?? drKey,
        after: fromDrKey(layout, resolved.source, last) ?? last,
        kind: drKey === last ? 'repeats' : 'goes backwards',
      });
      return undefined;
    }
    if (last !== undefined && compareKeys(drKey, last) <= 0) {
      throw new ListingOrderError(
        `the DR listing of ${drPrefix || '(everything)'} returned ${JSON.stringify(drKey)} after ${JSON.stringify(last)}, out of S3 key order; stopping so that no key is skipped`,
      );
    }
    last = drKey;
    const key = fromDrKey(layout, resolved.source, drKey);
    return key === undefined ? undefined : { key, drKey, versions: versions.sort(newestFirst) };
  };

  if (!versioned) {
    let token: string | undefined;
    do {
      const page = await dr.list({ prefix: drPrefix, startAfter: after, token, maxKeys: 1000 });
      for (const o of [...page.objects].sort((a, b) => compareKeys(a.key, b.key))) {
        const c = emit(o.key, [asVersion(o)]);
        if (c) yield c;
      }
      token = page.nextToken;
    } while (token);
    return;
  }

  let keyMarker = after;
  let versionIdMarker: string | undefined;
  let held: { drKey: string; versions: ListedVersion[] } | undefined;
  for (;;) {
    const page = await dr.listVersions({ prefix: drPrefix, keyMarker, versionIdMarker, maxKeys: 1000 });
    const groups = new Map<string, ListedVersion[]>();
    for (const v of page.versions) {
      const group = groups.get(v.key);
      if (group) group.push(v);
      else groups.set(v.key, [v]);
    }
    for (const drKey of [...groups.keys()].sort(compareKeys)) {
      const versions = groups.get(drKey) ?? [];
      if (held?.drKey === drKey) {
        held.versions.push(...versions);
        continue;
      }
      if (held) {
        const c = emit(held.drKey, held.versions);
        if (c) yield c;
      }
      held = { drKey, versions };
    }
    if (!page.nextKeyMarker) break;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
  if (held) {
    const c = emit(held.drKey, held.versions);
    if (c) yield c;
  }
}

/** The candidates of a `keys` restore: the keys in S3 order, without duplicates, after the cursor. */
export function keyCandidates(
  keys: readonly string[],
  resolved: ResolvedRestore,
  settings: Pick<RestoreSettings, 'keyLayout'>,
  afterKey: string | undefined,
): Candidate[] {
  return [...new Set(keys)]
    .sort(compareKeys)
    .filter((key) => afterKey === undefined || compareKeys(key, afterKey) > 0)
    .map((key) => ({ key, drKey: toDrKey(settings.keyLayout, resolved.source, key) }));
}

/**
 * The target's objects under a prefix, read in key order alongside the DR listing — a merge-join, as the
 * verifier does — so that knowing whether the target already holds a key costs a thousandth of a
 * ListObjectsV2 instead of a HEAD. Keys must be looked up in ascending S3 order.
 */
export class TargetIndex {
  private page: { key: string; etag: string; size: number }[] = [];
  private pos = 0;
  private token: string | undefined;
  private started = false;
  private last: string | undefined;
  /** The target listing went out of order: it can no longer say a key is absent. */
  private untrusted = false;
  private readonly target: ObjectStore;
  private readonly targetPrefix: string;
  private readonly listPrefix: string;
  private readonly afterKey: string | undefined;
  private readonly onDisorder: ((disorder: ListingDisorder) => void) | undefined;

  /**
   * Lists `listPrefix` in `target`, starting after target prefix + `afterKey` (a cursor's key). With
   * `onDisorder`, a listing that goes out of order is reported there and the index stops answering
   * (lookups return undefined: the planner HEADs each key), since an absent key would let a restore
   * overwrite an object `overwrite: never` must keep.
   */
  constructor(
    target: ObjectStore,
    targetPrefix: string,
    listPrefix: string,
    afterKey: string | undefined,
    onDisorder?: (disorder: ListingDisorder) => void,
  ) {
    this.target = target;
    this.targetPrefix = targetPrefix;
    this.listPrefix = listPrefix;
    this.afterKey = afterKey;
    this.onDisorder = onDisorder;
  }

  /**
   * The target object stored for source key `key` (at target prefix + key), null when there is none, or
   * undefined when the listing cannot tell (see the constructor): look it up with a HEAD.
   */
  async lookup(key: string): Promise<TargetObject | null | undefined> {
    const wanted = this.targetPrefix + key;
    for (;;) {
      if (this.untrusted) return undefined;
      while (this.pos < this.page.length) {
        const o = this.page[this.pos] as { key: string; etag: string; size: number };
        const c = compareKeys(o.key, wanted);
        if (c > 0) return null;
        this.pos += 1;
        if (c === 0) return { etag: o.etag, size: o.size };
      }
      if (this.started && this.token === undefined) return null;
      await this.nextPage();
    }
  }

  private async nextPage(): Promise<void> {
    const first = !this.started;
    this.started = true;
    const r = await this.target.list({
      prefix: this.listPrefix,
      ...(first && this.afterKey !== undefined ? { startAfter: this.targetPrefix + this.afterKey } : {}),
      ...(this.token ? { token: this.token } : {}),
      maxKeys: 1000,
    });
    this.page = [...r.objects].sort((a, b) => compareKeys(a.key, b.key));
    this.pos = 0;
    this.token = r.nextToken;
    const head = this.page[0];
    if (head && this.last !== undefined && compareKeys(head.key, this.last) <= 0 && this.onDisorder) {
      this.onDisorder({
        listing: `target s3://${this.target.bucket}`,
        key: head.key,
        after: this.last,
        kind: head.key === this.last ? 'repeats' : 'goes backwards',
      });
      this.untrusted = true;
      return;
    }
    if (head && this.last !== undefined && compareKeys(head.key, this.last) <= 0) {
      throw new ListingOrderError(
        `the listing of s3://${this.target.bucket}/${this.listPrefix} returned ${JSON.stringify(head.key)} after ${JSON.stringify(this.last)}, out of S3 key order; stopping so that no key is misjudged`,
      );
    }
    this.last = this.page[this.page.length - 1]?.key ?? this.last;
  }
}

export const ARCHIVED_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'] as const;
type ArchivedClass = (typeof ARCHIVED_CLASSES)[number];

function isArchived(storageClass: string | undefined): storageClass is ArchivedClass {
  return (ARCHIVED_CLASSES as readonly string[]).includes(storageClass ?? '');
}

/** How long S3 documents each retrieval tier to take, per archive class. */
const THAW_WAIT: Record<ArchivedClass, Partial<Record<ThawTier, string>>> = {
  GLACIER: { Expedited: '1-5 minutes', Standard: '3-5 hours', Bulk: '5-12 hours' },
  DEEP_ARCHIVE: { Standard: 'within 12 hours', Bulk: 'within 48 hours' },
};

/** The tier a thaw will use (DEEP_ARCHIVE has no Expedited: Standard instead) and its expected wait. */
export function thawPlan(
  storageClass: ArchivedClass,
  requested: ThawTier,
): { tier: ThawTier; expectedWait: string } {
  const tiers = THAW_WAIT[storageClass];
  const tier = tiers[requested] ? requested : 'Standard';
  return { tier, expectedWait: tiers[tier] ?? 'unknown' };
}

/** State of an archived object's thaw from its `x-amz-restore` header. */
export function thawState(restoreHeader: string | undefined): 'not-started' | 'in-progress' | 'thawed' {
  if (!restoreHeader) return 'not-started';
  return /ongoing-request="false"/.test(restoreHeader) ? 'thawed' : 'in-progress';
}

export type RestoreAction =
  | 'restore'
  | 'skip-identical'
  | 'skip-exists'
  | 'thaw-needed'
  | 'skip-deleted'
  | 'skip-no-version';
export const RESTORE_ACTIONS: readonly RestoreAction[] = [
  'restore',
  'skip-identical',
  'skip-exists',
  'thaw-needed',
  'skip-deleted',
  'skip-no-version',
];

export type KeyPlan =
  | {
      action: 'restore';
      key: string;
      drKey: string;
      targetKey: string;
      version: ListedVersion;
      /** The DR version's HEAD when planning already read it. */
      drHead?: ObjectHead;
      /** The target held a different object under the key, which the restore replaces. */
      replaces: boolean;
    }
  | {
      action: 'skip-identical' | 'skip-exists';
      key: string;
      drKey: string;
      targetKey: string;
      version: ListedVersion;
    }
  | {
      action: 'thaw-needed';
      key: string;
      drKey: string;
      targetKey: string;
      version: ListedVersion;
      storageClass: ArchivedClass;
      thaw: 'not-started' | 'in-progress';
      tier: ThawTier;
      expectedWait: string;
    }
  | { action: 'skip-deleted'; key: string; drKey: string; version: ListedVersion }
  | { action: 'skip-no-version'; key: string; drKey: string; deleted: boolean };

export interface PlanContext {
  dr: ObjectStore;
  target: ObjectStore;
  targetPrefix: string;
  versioned: boolean;
  asOf: Date | undefined;
  includeDeleted: boolean;
  overwrite: OverwriteMode;
  thawTier: ThawTier;
}

/** HEAD of one DR version (or of the current object in an unversioned bucket). */
export function headVersion(
  dr: ObjectStore,
  drKey: string,
  version: ListedVersion,
): Promise<ObjectHead | undefined> {
  const versionId = versionIdOf(version);
  return dr.head(drKey, versionId ? { versionId } : {});
}

/**
 * Decides what restoring one key means, reading only: the DR version to bring back (see
 * {@link selectVersion}); whether the target already holds those bytes (ETag and size, or the source
 * ETag recorded on the DR copy), which `overwrite` turns into a skip or a replacement; and whether an
 * archived DR copy must be thawed first. Costs one HEAD of the target unless the candidate carries what a
 * {@link TargetIndex} listed (and none with `overwrite: always`), plus a HEAD of the DR version only when
 * the ETags differ at equal size or the copy is archived.
 */
export async function planKey(candidate: Candidate, ctx: PlanContext): Promise<KeyPlan> {
  const { key, drKey } = candidate;
  const versions = candidate.versions ?? (await loadVersions(ctx.dr, drKey, ctx.versioned));
  const selection = selectVersion(versions, ctx.asOf);
  if (selection.kind !== 'version') {
    return { action: 'skip-no-version', key, drKey, deleted: selection.kind === 'deleted' };
  }
  const { version } = selection;
  if (selection.deleted && !ctx.includeDeleted) return { action: 'skip-deleted', key, drKey, version };
  const targetKey = ctx.targetPrefix + key;
  if (Buffer.byteLength(targetKey, 'utf8') > MAX_KEY_BYTES) {
    throw new RestoreRefusedError(
      `target key ${JSON.stringify(targetKey.slice(0, 64))}… would be longer than ${MAX_KEY_BYTES} bytes with target.prefix ${JSON.stringify(ctx.targetPrefix)}`,
    );
  }

  let drHead: ObjectHead | undefined;
  let replaces = false;
  if (ctx.overwrite !== 'always') {
    const existing =
      candidate.targetObject === undefined ? await ctx.target.head(targetKey) : candidate.targetObject;
    if (existing) {
      let identical = existing.size === version.size && existing.etag === version.etag;
      if (!identical && existing.size === version.size) {
        // SSE-KMS or a rewritten DR copy: the DR ETag differs by construction; the source ETag is recorded.
        drHead = await headVersion(ctx.dr, drKey, version);
        identical = drHead !== undefined && recordedSourceEtag(drHead) === existing.etag;
        if (!identical && drHead !== undefined && drHead.metadata[META_SOURCE_ETAG] === undefined) {
          // A KMS DR copy records no source ETag (one copy per change): S3's full-object checksums,
          // computed on the plaintext, tell whether the target already holds these bytes.
          const [a, b] = await Promise.all([
            ctx.target.checksums(targetKey),
            ctx.dr.checksums(drKey, versionIdOf(version)),
          ]);
          identical = compareChecksums(a, b).kind === 'same';
        }
      }
      if (identical) return { action: 'skip-identical', key, drKey, targetKey, version };
      if (ctx.overwrite === 'never') return { action: 'skip-exists', key, drKey, targetKey, version };
      replaces = true;
    }
  }

  const storageClass = version.storageClass;
  if (isArchived(storageClass)) {
    drHead ??= await headVersion(ctx.dr, drKey, version);
    const state = thawState(drHead?.restore);
    if (state !== 'thawed') {
      return {
        action: 'thaw-needed',
        key,
        drKey,
        targetKey,
        version,
        storageClass,
        thaw: state,
        ...thawPlan(storageClass, ctx.thawTier),
      };
    }
  }
  return { action: 'restore', key, drKey, targetKey, version, ...(drHead ? { drHead } : {}), replaces };
}
