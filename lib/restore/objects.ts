import type { Config } from '../core/config.ts';
import {
  DeadlineError,
  DrError,
  describeError,
  ObjectNotFoundError,
  RestoreRefusedError,
} from '../core/errors.ts';
import { compareKeys } from '../core/key-order.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { ListingDisorder } from '../core/merge-listings.ts';
import type { Clock, ObjectHead, ObjectStore, WriteOptions } from '../core/ports.ts';
import type { Telemetry } from '../core/telemetry.ts';
import { copiesInParts, copyObject, META_PREFIX } from '../replicate/copy-object.ts';
import { decodeCursor, encodeCursor, requestFingerprint } from './cursor.ts';
import type { RestorePayload } from './payload.ts';
import {
  type Candidate,
  headVersion,
  type KeyPlan,
  keyCandidates,
  type PlanContext,
  planKey,
  prefixCandidates,
  RESTORE_ACTIONS,
  type ResolvedRestore,
  type RestoreAction,
  type RestoreSettings,
  resolveRestore,
  TargetIndex,
  thawPlan,
  versionIdOf,
} from './plan.ts';
import { RestoreRules, type RestoreRulesReport } from './rules.ts';

export interface RestoreDeps extends Telemetry {
  dr: ObjectStore;
  /** A store for a bucket in a region; called only after the request passed the allow-list. */
  storeFor(bucket: string, region: string): ObjectStore;
  clock: Clock;
  // With replication rules, the report says which rule each key came under (lib/restore/rules.ts).
  settings: RestoreSettings & Partial<Pick<Config, 'rules' | 'drStorageClass'>>;
}

/** Keys listed in the report per action or result, so a person can see what is meant. */
const SAMPLE_SIZE = 10;
/** Errors and thaws listed in full in the report (all are counted). */
const DETAIL_LIMIT = 20;
/** A batch at least this large in which every key failed stops the restore. */
const MIN_FAILED_BATCH = 8;

async function* fromList<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** The candidates up to and including source key `last`; the listing is not read past it. */
async function* through(candidates: AsyncGenerator<Candidate>, last: string): AsyncGenerator<Candidate> {
  for await (const c of candidates) {
    if (compareKeys(c.key, last) > 0) return;
    yield c;
  }
}

export interface Tally {
  objects: number;
  bytes: number;
  sample: string[];
}

export interface ThawEntry {
  key: string;
  storageClass: string;
  tier: string;
  expectedWait: string;
  /** `started`: this run asked S3 to thaw it; `in-progress`: an earlier request is still running. */
  state: 'not-started' | 'started' | 'in-progress';
}

export interface RestoreReport {
  dryRun: boolean;
  source: string;
  scope: { keys: number } | { prefix: string };
  asOf: string | null;
  includeDeleted: boolean;
  overwrite: string;
  from: { bucket: string; region: string; versioned: boolean };
  target: { bucket: string; prefix: string; region: string };
  /** Keys looked at in this invocation. */
  examined: number;
  /** What was (or, in a dry run, would be) done, per action. */
  plan: Record<RestoreAction, Tally>;
  /** What a real run did. */
  results?: { restored: Tally; thawing: Tally; failed: Tally };
  thawing: ThawEntry[];
  failures: { key: string; error: string }[];
  /** True when every key of the request has been considered; otherwise pass `cursor` to continue. */
  complete: boolean;
  cursor?: string;
  /** `failures`: a whole batch failed, which points at a cause to fix before going on. */
  stoppedBy?: 'deadline' | 'maxObjects' | 'failures';
  warnings: string[];
  /** With replication rules: the planned keys per rule. */
  rules?: RestoreRulesReport;
  durationMs: number;
  /** One line for a person. */
  summary: string;
}

type KeyOutcome =
  | { kind: 'planned'; plan: KeyPlan }
  | { kind: 'restored'; plan: KeyPlan; bytes: number; method: 'copy' | 'multipart' }
  | { kind: 'thawing'; plan: KeyPlan; entry: ThawEntry }
  | { kind: 'failed'; key: string; bytes: number; plan?: KeyPlan; error: { name: string; message: string } }
  | { kind: 'interrupted'; key: string }
  | { kind: 'not-started'; key: string };

const tally = (): Tally => ({ objects: 0, bytes: 0, sample: [] });
function add(t: Tally, key: string, bytes: number): void {
  t.objects += 1;
  t.bytes += bytes;
  if (t.sample.length < SAMPLE_SIZE) t.sample.push(key);
}

function bytesOf(plan: KeyPlan): number {
  return 'version' in plan ? (plan.version.size ?? 0) : 0;
}

/** User metadata of a DR copy without s3-dr's own `s3dr-*` keys: what the source object had. */
export function originalMetadata(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).filter(([k]) => !k.startsWith(META_PREFIX)));
}

/**
 * The write options that give a restored object its original tags. Metadata and content headers come
 * from the DR copy (copyObject): copied as they are, or replaced without `s3dr-*` where it has some.
 */
export function restoreWriteOptions(drHead: ObjectHead, multipartThreshold: number): WriteOptions {
  return {
    // One CopyObject copies the version's tags for free (TaggingDirective COPY). A copy in parts has to
    // read them (GetObjectTagging), which is only worth a request when HEAD counted some.
    tags: copiesInParts(drHead, multipartThreshold) && !drHead.tagCount ? undefined : 'copy',
  };
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Fails the whole request early, and clearly, when the target cannot be listed (missing bucket, wrong
 * region, no permission) rather than once per key.
 *
 * @throws RestoreRefusedError naming the bucket and region.
 */
export async function assertTargetListable(target: ObjectStore, resolved: ResolvedRestore): Promise<void> {
  try {
    await target.list({ prefix: resolved.target.prefix, maxKeys: 1 });
  } catch (error) {
    const { name, message } = describeError(error);
    throw new RestoreRefusedError(
      `Restore refused: target bucket ${resolved.target.bucket} cannot be listed in ${resolved.target.region} (${name}: ${message}); create it, or fix target.region / S3DR_RESTORE_TARGET_REGION. Nothing was written`,
      { cause: error },
    );
  }
}

/**
 * Restores objects from the DR bucket: `sls invoke -f restore`. Checks the request against the stage
 * first ({@link resolveRestore}: nothing is read or written for a refused request), then walks the DR
 * listing in key order, plans each key ({@link planKey}) and — unless `dryRun` — acts on the plan:
 * server-side copies into the target (multipart with the DR copy's own part boundaries for large
 * objects, so ETags match and the replicate path recognises restored objects without a copy), with the
 * original metadata, content headers and tags and without `s3dr-*` metadata; `RestoreObject` for archived
 * copies, which a later run of the same payload then copies.
 *
 * It stops before the deadline (or after `maxObjects` keys) and returns a cursor; a key that fails is
 * reported and counted (`RestoreFailures`) without stopping the others. Errors that concern the whole
 * request (refusal, listing or a missing target bucket) are thrown.
 */
export async function restoreObjects(
  payload: RestorePayload,
  deps: RestoreDeps,
  /** A job shard's upper bound: keys after `through` (a source key) are left to the next shard. */
  bounds: { through?: string } = {},
): Promise<RestoreReport> {
  const started = Date.now();
  const { settings, dr, logger } = deps;
  const resolved = resolveRestore(payload, settings);
  const fingerprint = requestFingerprint(payload, resolved.source);
  // An empty `after` is a cursor taken before any key was done.
  const after = payload.cursor ? decodeCursor(payload.cursor, fingerprint).after || undefined : undefined;
  const target = deps.storeFor(resolved.target.bucket, resolved.target.region);
  const warnings: string[] = [];

  await assertTargetListable(target, resolved);
  const versioning = await dr.versioning();
  const versioned = versioning !== 'unversioned';
  if (!versioned) {
    warnings.push(
      `DR bucket ${settings.drBucket} is not versioned: only its current objects can be restored${payload.asOf ? ', and asOf can only leave out objects written after it' : ''}`,
    );
  }
  if (!payload.includeDeleted && settings.deletePolicy === 'retain') {
    warnings.push(
      'deletePolicy is retain: DR keeps no record of source deletes, so includeDeleted:false cannot leave deleted keys out',
    );
  }

  const ctx: PlanContext = {
    dr,
    target,
    targetPrefix: resolved.target.prefix,
    versioned,
    asOf: payload.asOf ? new Date(payload.asOf) : undefined,
    includeDeleted: payload.includeDeleted,
    overwrite: payload.overwrite,
    thawTier: payload.thawTier,
  };
  // A key a listing returns out of S3's order never stops the restore (docs/design.md, invariant 3): a
  // DR key is left out and named (restore it by `keys`); a target listing falls back to HEADs.
  const disorder: ListingDisorder[] = [];
  let disorderCount = 0;
  const onDisorder = (d: ListingDisorder) => {
    disorderCount += 1;
    if (disorder.length < DETAIL_LIMIT) disorder.push(d);
    logger.warn('a listing returned a key out of S3 key order', { action: 'restore', ...d });
  };
  // A prefix restore learns what the target holds from a listing read alongside the DR listing.
  const index =
    payload.keys || payload.overwrite === 'always'
      ? undefined
      : new TargetIndex(
          target,
          resolved.target.prefix,
          resolved.target.prefix + (payload.prefix ?? ''),
          after,
          onDisorder,
        );
  const listed = payload.keys
    ? fromList(keyCandidates(payload.keys, resolved, settings, after))
    : prefixCandidates(dr, resolved, payload.prefix ?? '', settings, versioned, after, onDisorder);
  const candidates = (bounds.through === undefined ? listed : through(listed, bounds.through))[
    Symbol.asyncIterator
  ]();

  const plan = Object.fromEntries(RESTORE_ACTIONS.map((a) => [a, tally()])) as Record<RestoreAction, Tally>;
  const results = { restored: tally(), thawing: tally(), failed: tally() };
  const byRule = settings.rules?.length
    ? new RestoreRules(
        settings.rules,
        { drStorageClass: settings.drStorageClass ?? 'STANDARD', deletePolicy: settings.deletePolicy },
        dr,
      )
    : undefined;
  const thawing: ThawEntry[] = [];
  const failures: { key: string; error: string }[] = [];
  let examined = 0;
  let lastDone = after;
  let stoppedBy: RestoreReport['stoppedBy'];
  let tierWarned = false;
  // Large enough that the slowest key of a batch rarely holds up the rest for long.
  const batchSize = settings.restoreConcurrency * 8;
  const deadlineNear = () => deps.clock.remainingMs() < settings.safetyMarginMs;

  // The listing is read lazily, one step ahead of the batch being processed.
  let next: IteratorResult<Candidate> | undefined;
  for (;;) {
    if (next?.done) break;
    if (deadlineNear()) {
      stoppedBy = 'deadline';
      break;
    }
    next ??= await candidates.next();
    if (next.done) break;
    if (payload.maxObjects !== undefined && examined >= payload.maxObjects) {
      stoppedBy = 'maxObjects';
      break;
    }
    const batch: Candidate[] = [];
    const room =
      payload.maxObjects === undefined ? batchSize : Math.min(batchSize, payload.maxObjects - examined);
    while (!next.done && batch.length < room) {
      batch.push(next.value);
      next = await candidates.next();
    }
    if (index) for (const c of batch) c.targetObject = await index.lookup(c.key);
    const outcomes = await mapConcurrent(batch, settings.restoreConcurrency, (c) =>
      handleKey(c, payload, ctx, deps, deadlineNear),
    );
    for (const outcome of outcomes) record(outcome);
    if (outcomes.length >= MIN_FAILED_BATCH && outcomes.every((o) => o.kind === 'failed')) {
      // A whole batch failing is a cause, not bad luck (permissions, encryption keys, a deleted
      // bucket): stop, and leave the cursor before the batch so that nothing is passed over.
      stoppedBy = 'failures';
      break;
    }
    const firstUndone = outcomes.findIndex((o) => o.kind === 'interrupted' || o.kind === 'not-started');
    if (firstUndone === -1) {
      lastDone = batch[batch.length - 1]?.key ?? lastDone;
    } else {
      lastDone = firstUndone > 0 ? batch[firstUndone - 1]?.key : lastDone;
      stoppedBy = 'deadline';
      break;
    }
  }

  function record(outcome: KeyOutcome): void {
    if (outcome.kind === 'not-started' || outcome.kind === 'interrupted') return;
    examined += 1;
    if (outcome.plan) byRule?.note(outcome.plan);
    if (outcome.plan) add(plan[outcome.plan.action], outcome.plan.key, bytesOf(outcome.plan));
    switch (outcome.kind) {
      case 'restored':
        add(results.restored, outcome.plan.key, outcome.bytes);
        break;
      case 'thawing':
        add(results.thawing, outcome.plan.key, bytesOf(outcome.plan));
        if (thawing.length < DETAIL_LIMIT) thawing.push(outcome.entry);
        break;
      case 'failed':
        add(results.failed, outcome.key, outcome.bytes);
        if (failures.length < DETAIL_LIMIT) {
          failures.push({ key: outcome.key, error: `${outcome.error.name}: ${outcome.error.message}` });
        }
        break;
      case 'planned':
        if (outcome.plan.action === 'thaw-needed' && thawing.length < DETAIL_LIMIT) {
          const p = outcome.plan;
          thawing.push({
            key: p.key,
            storageClass: p.storageClass,
            tier: p.tier,
            expectedWait: p.expectedWait,
            state: p.thaw,
          });
        }
        break;
    }
    const p = outcome.plan;
    if (p?.action === 'thaw-needed' && p.tier !== payload.thawTier && !tierWarned) {
      tierWarned = true;
      warnings.push(
        `${p.storageClass} has no ${payload.thawTier} retrieval tier: such copies are thawed with ${p.tier}`,
      );
    }
  }

  for (const d of disorder) {
    if (d.listing !== 'DR') continue;
    if (failures.length < DETAIL_LIMIT) {
      failures.push({
        key: d.key,
        error:
          d.kind === 'repeats'
            ? 'ListingOrderError: the DR listing returned this key twice; the second entry was left out — it may be another key listed under this name (an endpoint that ignores EncodingType=url)'
            : `ListingOrderError: the DR listing returned this key after ${JSON.stringify(d.after)}, out of S3 key order; left out — restore it with "keys"`,
      });
    }
    if (!payload.dryRun) add(results.failed, d.key, 0);
  }
  if (disorderCount > 0) {
    warnings.push(
      `${disorderCount} listing entr${disorderCount === 1 ? 'y' : 'ies'} came back out of S3 key order (never from S3 with EncodingType=url): DR keys among them were left out and are listed under failures; after a target listing went out of order, the target was checked with HEADs`,
    );
  }

  const complete = stoppedBy === undefined;
  const rules = await byRule?.finish();
  const report: RestoreReport = {
    dryRun: payload.dryRun,
    source: resolved.source,
    scope: payload.keys ? { keys: new Set(payload.keys).size } : { prefix: payload.prefix ?? '' },
    asOf: ctx.asOf ? ctx.asOf.toISOString() : null,
    includeDeleted: payload.includeDeleted,
    overwrite: payload.overwrite,
    from: { bucket: settings.drBucket, region: settings.drRegion, versioned },
    target: resolved.target,
    examined,
    plan,
    ...(payload.dryRun ? {} : { results }),
    thawing,
    failures,
    complete,
    ...(complete ? {} : { cursor: encodeCursor({ after: lastDone ?? '' }, fingerprint), stoppedBy }),
    warnings,
    ...(rules ? { rules } : {}),
    durationMs: Date.now() - started,
    summary: '',
  };
  report.summary = summariseRestore(report);

  if (!payload.dryRun) {
    deps.metrics.addMetric('RestoreObjects', 'Count', results.restored.objects);
    deps.metrics.addMetric('RestoreBytes', 'Bytes', results.restored.bytes);
    deps.metrics.addMetric('RestoreFailures', 'Count', results.failed.objects);
    deps.outcomes.publish({
      type: 'restored',
      objects: results.restored.objects,
      bytes: results.restored.bytes,
      failures: results.failed.objects,
    });
  }
  const extra = {
    bucket: resolved.target.bucket,
    action: payload.dryRun ? 'restore-plan' : 'restore',
    examined,
    complete,
    restored: results.restored.objects,
    failed: results.failed.objects,
  };
  if (results.failed.objects > 0) logger.error(report.summary, extra);
  else logger.info(report.summary, extra);
  return report;
}

/** Plans one key and, in a real run, carries the plan out. Never throws: a failure is an outcome. */
async function handleKey(
  candidate: Candidate,
  payload: RestorePayload,
  ctx: PlanContext,
  deps: RestoreDeps,
  deadlineNear: () => boolean,
): Promise<KeyOutcome> {
  if (deadlineNear()) return { kind: 'not-started', key: candidate.key };
  let plan: KeyPlan | undefined;
  try {
    plan = await planKey(candidate, ctx);
    if (payload.dryRun) return { kind: 'planned', plan };
    if (plan.action === 'thaw-needed') {
      const { tier, expectedWait } = thawPlan(plan.storageClass, payload.thawTier);
      let state: ThawEntry['state'] = 'in-progress';
      if (plan.thaw === 'not-started') {
        const accepted = await ctx.dr.startThaw(
          plan.drKey,
          versionIdOf(plan.version),
          payload.thawDays,
          tier,
        );
        state = accepted ? 'started' : 'in-progress';
      }
      deps.logger.info('archived DR copy is thawing; rerun the same payload once it is readable', {
        bucket: ctx.dr.bucket,
        key: plan.drKey,
        versionId: versionIdOf(plan.version),
        action: 'thaw',
        tier,
        expectedWait,
        state,
      });
      return {
        kind: 'thawing',
        plan,
        entry: { key: plan.key, storageClass: plan.storageClass, tier, expectedWait, state },
      };
    }
    if (plan.action !== 'restore') return { kind: 'planned', plan };
    const drHead = plan.drHead ?? (await headVersion(ctx.dr, plan.drKey, plan.version));
    if (!drHead) {
      throw new ObjectNotFoundError(
        `DR copy ${plan.drKey}${versionIdOf(plan.version) ? ` version ${versionIdOf(plan.version)}` : ''} no longer exists (expired, or removed since it was listed)`,
      );
    }
    const head: ObjectHead = { ...drHead, versionId: drHead.versionId ?? versionIdOf(plan.version) };
    const copied = await copyObject({
      from: ctx.dr,
      head,
      to: ctx.target,
      toKey: plan.targetKey,
      write: restoreWriteOptions(head, deps.settings.multipartThreshold),
      metadata: originalMetadata(head.metadata),
      settings: deps.settings,
      clock: deps.clock,
    });
    deps.logger.debug('restored', {
      bucket: ctx.target.bucket,
      key: plan.targetKey,
      versionId: head.versionId,
      etag: copied.etag,
      action: 'restore',
      method: copied.method,
    });
    return { kind: 'restored', plan, bytes: head.size, method: copied.method };
  } catch (error) {
    if (error instanceof DeadlineError) {
      deps.logger.info('restore of a large object stopped before the deadline; the next run resumes it', {
        key: candidate.key,
        action: 'resume-later',
      });
      return { kind: 'interrupted', key: candidate.key };
    }
    const described = describeError(error);
    deps.logger.error('restoring a key failed; the others continue', {
      key: candidate.key,
      action: 'restore',
      error: described,
      ...(error instanceof DrError ? {} : { unexpected: true }),
    });
    return {
      kind: 'failed',
      key: candidate.key,
      bytes: plan ? bytesOf(plan) : 0,
      ...(plan ? { plan } : {}),
      error: described,
    };
  }
}

/** The one-line summary of a restore report, for a person. */
export function summariseRestore(r: RestoreReport): string {
  const where = `s3://${r.from.bucket} → s3://${r.target.bucket}/${r.target.prefix}`;
  const scope = 'keys' in r.scope ? `${r.scope.keys} key(s)` : `prefix "${r.scope.prefix}"`;
  const when = r.asOf ? `as of ${r.asOf}` : 'newest versions';
  const p = r.plan;
  const skipped = `${p['skip-identical'].objects} identical, ${p['skip-exists'].objects} kept (exist), ${p['skip-deleted'].objects} deleted, ${p['skip-no-version'].objects} without a version`;
  const head = r.dryRun
    ? `DRY RUN restore of ${scope} (${when}) ${where}: would restore ${p.restore.objects} object(s) (${fmtBytes(p.restore.bytes)}), thaw ${p['thaw-needed'].objects}; skip ${skipped}`
    : `restore of ${scope} (${when}) ${where}: restored ${r.results?.restored.objects ?? 0} object(s) (${fmtBytes(r.results?.restored.bytes ?? 0)}), thawing ${r.results?.thawing.objects ?? 0}, FAILED ${r.results?.failed.objects ?? 0}; skipped ${skipped}`;
  const tail = r.complete
    ? `complete (${r.examined} key(s) examined in ${(r.durationMs / 1000).toFixed(1)} s)`
    : r.stoppedBy === 'failures'
      ? `STOPPED after ${r.examined} key(s): every key of a batch failed (see failures); fix the cause, then invoke again with the returned cursor`
      : `NOT complete: stopped by ${r.stoppedBy} after ${r.examined} key(s); invoke again with the returned cursor`;
  const rerun =
    (r.results?.thawing.objects ?? p['thaw-needed'].objects) > 0
      ? '; rerun the same payload once thawed'
      : '';
  return `${head}; ${tail}${rerun}${r.dryRun ? '; set "dryRun": false to do it' : ''}`;
}
