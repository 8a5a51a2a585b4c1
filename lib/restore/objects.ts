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
  type ResolvedRestore,
  type RestoreAction,
  type RestoreSettings,
  resolveRestore,
  TargetIndex,
  thawPlan,
  versionIdOf,
} from './plan.ts';
import { RestoreRules, type RestoreRulesReport } from './rules.ts';
import {
  bytesOf,
  type KeyOutcome,
  ListingDisorderLog,
  RestoreTally,
  type Tally,
  type ThawEntry,
} from './tally.ts';

export interface RestoreDeps extends Telemetry {
  dr: ObjectStore;
  /** A store for a bucket in a region; called only after the request passed the allow-list. */
  storeFor(bucket: string, region: string): ObjectStore;
  clock: Clock;
  // With replication rules, the report says which rule each key came under (lib/restore/rules.ts).
  settings: RestoreSettings & Partial<Pick<Config, 'rules' | 'drStorageClass'>>;
}

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
  const run = await prepareRestore(payload, deps, bounds);
  const byRule = ruleTally(deps);
  const tally = new RestoreTally(payload.thawTier, run.warnings, byRule);
  const stop = await restoreInBatches(run, payload, deps, tally);
  tally.recordLeftOut(run.disorder.entries, payload.dryRun);
  const disorderWarning = run.disorder.warning();
  if (disorderWarning) run.warnings.push(disorderWarning);
  const rules = await byRule?.finish();
  const report = restoreReport(payload, deps.settings, run, tally, stop, rules, Date.now() - started);
  publishRestore(report, run.resolved, tally, deps);
  return report;
}

/** A restore invocation once its request is checked and its listings are open, before the first key. */
interface PreparedRestore {
  resolved: ResolvedRestore;
  fingerprint: string;
  /** The last key an earlier invocation finished (from the cursor). */
  after: string | undefined;
  versioned: boolean;
  ctx: PlanContext;
  warnings: string[];
  disorder: ListingDisorderLog;
  /** What the target holds, for a prefix restore: read alongside the DR listing. */
  index: TargetIndex | undefined;
  candidates: AsyncIterator<Candidate>;
}

/**
 * Checks the request (allow-list, cursor, a listable target), reads the DR bucket's versioning and opens
 * the listings the keys come from.
 *
 * @throws RestoreRefusedError, and the cursor's errors (one for another request).
 */
async function prepareRestore(
  payload: RestorePayload,
  deps: RestoreDeps,
  bounds: { through?: string },
): Promise<PreparedRestore> {
  const { settings, dr } = deps;
  const resolved = resolveRestore(payload, settings);
  const fingerprint = requestFingerprint(payload, resolved.source);
  // An empty `after` is a cursor taken before any key was done.
  const after = payload.cursor ? decodeCursor(payload.cursor, fingerprint).after || undefined : undefined;
  const target = deps.storeFor(resolved.target.bucket, resolved.target.region);

  // Read alongside the target check (one round trip less per invocation, and per job chunk); a refusal
  // still wins over whatever the versioning read says.
  const versioning = dr.versioning();
  versioning.catch(() => undefined);
  await assertTargetListable(target, resolved);
  const versioned = (await versioning) !== 'unversioned';
  const warnings = requestWarnings(payload, settings, versioned);
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
  const disorder = new ListingDisorderLog(deps.logger);
  // A prefix restore learns what the target holds from a listing read alongside the DR listing.
  const index =
    payload.keys || payload.overwrite === 'always'
      ? undefined
      : new TargetIndex(
          target,
          resolved.target.prefix,
          resolved.target.prefix + (payload.prefix ?? ''),
          after,
          disorder.note,
        );
  const listed = payload.keys
    ? fromList(keyCandidates(payload.keys, resolved, settings, after))
    : prefixCandidates(dr, resolved, payload.prefix ?? '', settings, versioned, after, disorder.note);
  const candidates = (bounds.through === undefined ? listed : through(listed, bounds.through))[
    Symbol.asyncIterator
  ]();
  return { resolved, fingerprint, after, versioned, ctx, warnings, disorder, index, candidates };
}

/** What the report warns of before any key is read: limits of the DR bucket and of the stage's settings. */
function requestWarnings(
  payload: RestorePayload,
  settings: RestoreDeps['settings'],
  versioned: boolean,
): string[] {
  const warnings: string[] = [];
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
  return warnings;
}

/** With replication rules, the tally of planned keys per rule (lib/restore/rules.ts). */
function ruleTally(deps: RestoreDeps): RestoreRules | undefined {
  const { settings } = deps;
  if (!settings.rules?.length) return undefined;
  return new RestoreRules(
    settings.rules,
    { drStorageClass: settings.drStorageClass ?? 'STANDARD', deletePolicy: settings.deletePolicy },
    deps.dr,
  );
}

/** Why a restore invocation ended before its last key, and the last key it finished (the cursor's). */
interface RestoreStop {
  stoppedBy: RestoreReport['stoppedBy'];
  lastDone: string | undefined;
}

/**
 * Plans and restores the candidates a batch at a time, `restoreConcurrency` keys at once, until the
 * listing ends, the deadline nears, `maxObjects` keys are examined or a whole batch fails.
 */
async function restoreInBatches(
  run: PreparedRestore,
  payload: RestorePayload,
  deps: RestoreDeps,
  tally: RestoreTally,
): Promise<RestoreStop> {
  const { settings } = deps;
  const { candidates } = run;
  let lastDone = run.after;
  // Large enough that the slowest key of a batch rarely holds up the rest for long.
  const batchSize = settings.restoreConcurrency * 8;
  const deadlineNear = () => deps.clock.remainingMs() < settings.safetyMarginMs;

  // The listing is read lazily, one step ahead of the batch being processed.
  let next: IteratorResult<Candidate> | undefined;
  for (;;) {
    if (next?.done) break;
    if (deadlineNear()) return { stoppedBy: 'deadline', lastDone };
    next ??= await candidates.next();
    if (next.done) break;
    if (payload.maxObjects !== undefined && tally.examined >= payload.maxObjects) {
      return { stoppedBy: 'maxObjects', lastDone };
    }
    const batch: Candidate[] = [];
    const room =
      payload.maxObjects === undefined ? batchSize : Math.min(batchSize, payload.maxObjects - tally.examined);
    while (!next.done && batch.length < room) {
      batch.push(next.value);
      next = await candidates.next();
    }
    if (run.index) for (const c of batch) c.targetObject = await run.index.lookup(c.key);
    const outcomes = await mapConcurrent(batch, settings.restoreConcurrency, (c) =>
      handleKey(c, payload, run.ctx, deps, deadlineNear),
    );
    for (const outcome of outcomes) tally.record(outcome);
    if (outcomes.length >= MIN_FAILED_BATCH && outcomes.every((o) => o.kind === 'failed')) {
      // A whole batch failing is a cause, not bad luck (permissions, encryption keys, a deleted
      // bucket): stop, and leave the cursor before the batch so that nothing is passed over.
      return { stoppedBy: 'failures', lastDone };
    }
    const firstUndone = outcomes.findIndex((o) => o.kind === 'interrupted' || o.kind === 'not-started');
    if (firstUndone !== -1) {
      return { stoppedBy: 'deadline', lastDone: firstUndone > 0 ? batch[firstUndone - 1]?.key : lastDone };
    }
    lastDone = batch[batch.length - 1]?.key ?? lastDone;
  }
  return { stoppedBy: undefined, lastDone };
}

/** The report of one invocation, with its cursor when keys are left. */
function restoreReport(
  payload: RestorePayload,
  settings: RestoreDeps['settings'],
  run: PreparedRestore,
  tally: RestoreTally,
  { stoppedBy, lastDone }: RestoreStop,
  rules: RestoreRulesReport | undefined,
  durationMs: number,
): RestoreReport {
  const complete = stoppedBy === undefined;
  const report: RestoreReport = {
    dryRun: payload.dryRun,
    source: run.resolved.source,
    scope: payload.keys ? { keys: new Set(payload.keys).size } : { prefix: payload.prefix ?? '' },
    asOf: run.ctx.asOf ? run.ctx.asOf.toISOString() : null,
    includeDeleted: payload.includeDeleted,
    overwrite: payload.overwrite,
    from: { bucket: settings.drBucket, region: settings.drRegion, versioned: run.versioned },
    target: run.resolved.target,
    examined: tally.examined,
    plan: tally.plan,
    ...(payload.dryRun ? {} : { results: tally.results }),
    thawing: tally.thawing,
    failures: tally.failures,
    complete,
    ...(complete ? {} : { cursor: encodeCursor({ after: lastDone ?? '' }, run.fingerprint), stoppedBy }),
    warnings: run.warnings,
    ...(rules ? { rules } : {}),
    durationMs,
    summary: '',
  };
  report.summary = summariseRestore(report);
  return report;
}

/** Metrics and the `restored` outcome of a real run, and the summary line (an error when keys failed). */
function publishRestore(
  report: RestoreReport,
  resolved: ResolvedRestore,
  { results, examined }: RestoreTally,
  deps: RestoreDeps,
): void {
  if (!report.dryRun) {
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
    action: report.dryRun ? 'restore-plan' : 'restore',
    examined,
    complete: report.complete,
    restored: results.restored.objects,
    failed: results.failed.objects,
  };
  if (results.failed.objects > 0) deps.logger.error(report.summary, extra);
  else deps.logger.info(report.summary, extra);
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
    if (plan.action === 'thaw-needed') return await thawKey(plan, payload, ctx, deps);
    if (plan.action !== 'restore') return { kind: 'planned', plan };
    return await restoreKey(plan, ctx, deps);
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

/** Starts (or notes) the thaw of an archived DR copy: a later run of the same payload restores it. */
async function thawKey(
  plan: Extract<KeyPlan, { action: 'thaw-needed' }>,
  payload: RestorePayload,
  ctx: PlanContext,
  deps: RestoreDeps,
): Promise<KeyOutcome> {
  const { tier, expectedWait } = thawPlan(plan.storageClass, payload.thawTier);
  let state: ThawEntry['state'] = 'in-progress';
  if (plan.thaw === 'not-started') {
    const accepted = await ctx.dr.startThaw(plan.drKey, versionIdOf(plan.version), payload.thawDays, tier);
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

/** Copies the planned DR version to the target, with its original metadata, content headers and tags. */
async function restoreKey(
  plan: Extract<KeyPlan, { action: 'restore' }>,
  ctx: PlanContext,
  deps: RestoreDeps,
): Promise<KeyOutcome> {
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
