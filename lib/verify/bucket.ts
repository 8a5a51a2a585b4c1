import { randomUUID } from 'node:crypto';
import { RESERVED_PREFIX } from '../core/config.ts';
import { DrError, SseCustomerKeyRequiredError } from '../core/errors.ts';
import { drPrefixFor, fromDrKey, type KeyLayout } from '../core/key-mapping.ts';
import { compareKeys } from '../core/key-order.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import { type ListingDisorder, mergeListings } from '../core/merge-listings.ts';
import { compareChecksums } from '../core/object-checksums.ts';
import type { Clock, ListedObject, ObjectStore, TaskQueue } from '../core/ports.ts';
import type { ReplicationRule, RuleDecision, RuleDefaults } from '../core/replication-rules.ts';
import type { Task } from '../core/task.ts';
import type { Log } from '../core/telemetry.ts';
import { isArchivedReason, type UnreplicableReason, unreplicableReason } from '../core/unreplicable.ts';
import { WorkQueue } from '../core/work-queue.ts';
import { META_SOURCE_ETAG } from '../replicate/copy-object.ts';
import {
  addCounts,
  cursorKey,
  type KeyRange,
  loadCursor,
  type PassState,
  saveCursor,
  type VerifyClass,
  type VerifyCursor,
  type VerifyScope,
  zeroCounts,
} from './cursor.ts';
import { compareContent, compareTags, isSampled } from './deep.ts';
import { LedgerReader, LedgerWriter, ledgerFolder, shardId } from './ledger.ts';
import { listEntries } from './listing.ts';
import {
  type BucketReport,
  type DeepReport,
  type DisorderReport,
  MAX_SAMPLES,
  type RequestCounts,
  Tally,
  zeroRequests,
} from './report.ts';
import { VerifyRules } from './rules.ts';
import {
  childItems,
  itemStart,
  type ListingPlan,
  listingPlan,
  PrefixCollector,
  type ShardLimits,
  shardLimits,
  sortWork,
  type WorkItem,
} from './shards.ts';

/** The event name of the tasks the verifier queues; replicate reconciles them like any other hint. */
export const REPAIR_EVENT = 'Verify:Repair';

export interface VerifyBucketSettings {
  keyLayout: KeyLayout;
  deletePolicy: 'mirror' | 'retain';
  /** Shards listed at once (S3DR_VERIFY_CONCURRENCY). */
  concurrency: number;
  /** Stop when less than this is left before the deadline (S3DR_SAFETY_MARGIN_MS). */
  safetyMarginMs: number;
  /** A source object modified more recently than this is `pending` rather than drift. */
  graceSeconds: number;
  /** Only keys starting with this (in source key space). */
  prefix: string;
  repair: boolean;
  /** Share of `ok` keys whose content is compared too: 0 (off) to 1 (every key). */
  deep: number;
  /** Tags are replicated (S3DR_COPY_TAGS): deep mode compares tag sets too. */
  copyTags?: boolean;
  /** Overrides of the sharding limits derived from `concurrency` (tests use tiny ones). */
  limits?: Partial<ShardLimits>;
  /**
   * Replicate restores archived sources (S3DR_THAW_ARCHIVED_SOURCES): an archived key missing from DR
   * then gets a repair task, which starts (or finds) its restore. Off: no task, retrying cannot help.
   */
  thawArchivedSources?: boolean;
  /**
   * Replication rules (S3DR_RULES) with the stage defaults they fall back on: excluded keys are left out
   * (neither missing nor orphaned), a DR copy in another class than its rule's is `mismatched`, and an
   * orphan follows its rule's delete policy. Unset or empty: every key as before.
   */
  rules?: { rules: readonly ReplicationRule[]; defaults: RuleDefaults };
  /**
   * Only this part of the scope (a verify job's shard): the pass covers it with one flat listing per
   * side and keeps its own cursor and ledger (cursorKey with the range). Unset: the whole scope.
   */
  range?: KeyRange;
}

export interface VerifyBucketDeps {
  source: ObjectStore;
  dr: ObjectStore;
  /** The replication queue; required when `repair` is on. */
  queue: TaskQueue | undefined;
  clock: Clock;
  log: Log;
}

/** Keys resolved with HEADs (or deep checks) at once, per shard. */
const CHECK_CONCURRENCY = 16;
const CHECK_BATCH = 64;
/** Repair tasks buffered before they are sent. */
const REPAIR_BATCH = 100;
/** Keys a work item remembers as listed out of order (beyond it, one-sided entries are classified as usual). */
const MAX_UNPLACED = 10_000;

interface Deferred {
  key: string;
  source: ListedObject;
  /** The DR copy's ETag, as listed; undefined when DR has no copy. */
  drEtag: string | undefined;
  /** The ETags differ: the ledger, or else the DR copy's recorded source ETag or checksums, decide. */
  head: boolean;
}

/** One shard's view of the ETag ledgers: the previous pass's to read, this pass's to write. */
interface ShardLedger {
  reader: LedgerReader;
  writer: LedgerWriter;
}

/** A running work item's own: its deferred checks still running while its listing goes on, and its tally. */
interface Checks {
  pending: Promise<void>;
  /**
   * Added to the run's tally once the item ended or stopped where it resumes, dropped when it failed —
   * a failed item starts over from its start, so the keys it had counted would be counted again.
   */
  tally: Tally;
}

type ItemOutcome = { done: true; children: WorkItem[] } | { done: false; item: WorkItem };

/**
 * Verifies one source bucket against the DR bucket (docs/design.md, invariant 5), resuming the pass its cursor
 * describes, for as long as the deadline allows.
 *
 * The key space is cut into shards (see verify-shards.ts) listed `concurrency` at a time; in each, the
 * source and DR listings are merge-joined (mergeListings), so memory is a few pages per shard whatever
 * the bucket's size. Each key is classified: `ok`, `missing`, `mismatched` (size differs, or ETag differs
 * and the DR copy's recorded `s3dr-source-etag` — one HEAD — does not match either), `orphaned`,
 * `pending` (source modified within the grace period), or `unreplicable` (not in DR, and its source HEAD
 * shows an object S3 cannot copy as it is: archived, SSE-C; never repaired unless thawing is on). With `repair`, a `Verify:Repair` task is queued for
 * each missing and mismatched key, and for orphaned keys under the `mirror` policy; replicate reconciles
 * them from the source's current state — which is also how a never-replicated bucket gets backfilled.
 *
 * Before the deadline (less the safety margin) every shard stops after the key in hand, queued repairs
 * are flushed, and the unfinished shards with their positions are stored in the cursor. When no work is
 * left the pass is complete and the next run starts a new one.
 */
export async function verifyBucket(
  deps: VerifyBucketDeps,
  settings: VerifyBucketSettings,
): Promise<BucketReport> {
  return new BucketVerification(deps, settings).run();
}

class BucketVerification {
  private readonly deps: VerifyBucketDeps;
  private readonly settings: VerifyBucketSettings;
  private readonly limits: ShardLimits;
  private readonly tally = new Tally();
  private readonly requests: RequestCounts = zeroRequests();
  private readonly deep: DeepReport = { methods: {}, samples: {} };
  private readonly disorder: DisorderReport = { count: 0, samples: [] };
  private readonly repairs: Task[] = [];
  private repairsQueued = 0;
  private readonly drPrefix: string;
  private readonly rules: VerifyRules | undefined;
  private readonly startedAt: Date;
  private readonly graceCutoff: number;
  private failure: { error: unknown } | undefined;
  private pass!: PassState;
  /** Where this pass's ETag ledger is written, and the last completed pass's read. */
  private ledgerOut!: string;
  private ledgerIn: string | undefined;

  constructor(deps: VerifyBucketDeps, settings: VerifyBucketSettings) {
    this.deps = deps;
    this.settings = settings;
    this.limits = { ...shardLimits(settings.concurrency), ...settings.limits };
    this.drPrefix = drPrefixFor(settings.keyLayout, deps.source.bucket);
    this.rules = settings.rules?.rules.length
      ? new VerifyRules({
          ...settings.rules,
          source: deps.source,
          dr: deps.dr,
          drKeyOf: (key) => this.drPrefix + key,
        })
      : undefined;
    this.startedAt = deps.clock.now();
    this.graceCutoff = this.startedAt.getTime() - settings.graceSeconds * 1000;
    if (settings.repair && !deps.queue)
      throw new DrError('verifyBucket: repair is on but no queue was given');
  }

  private shouldStop(): boolean {
    return this.failure !== undefined || this.deps.clock.remainingMs() < this.settings.safetyMarginMs;
  }

  async run(): Promise<BucketReport> {
    const { source, dr, log } = this.deps;
    const scope: VerifyScope = { prefix: this.settings.prefix, deep: this.settings.deep };
    const key = cursorKey(source.bucket, scope, this.settings.range);
    const stored = await loadCursor(dr, key, log);
    const { work, lastCompleted } = this.resumeOrStartPass(stored, scope);
    this.pass.runs += 1;
    this.ledgerOut = ledgerFolder(key, this.pass.id);
    // A pass that wrote no ledger (no key with differing ETags) leaves nothing to read: no request.
    this.ledgerIn =
      lastCompleted?.ledgerPieces !== undefined && lastCompleted.ledgerPieces > 0
        ? ledgerFolder(key, lastCompleted.id)
        : undefined;

    const { remaining, done } = await this.process(work);
    try {
      await this.flushRepairs();
    } catch (error) {
      this.failure ??= { error };
    }
    this.pass.counts = addCounts(this.pass.counts, this.tally.counts);
    this.pass.itemsDone += done;
    const complete = remaining.length === 0 && this.failure === undefined;
    if (complete) this.pass.completedAt = this.deps.clock.now().toISOString();
    const cursor: VerifyCursor = {
      version: 1,
      source: source.bucket,
      scope,
      pass: this.pass,
      work: sortWork(remaining),
      ...(complete ? { lastCompleted: this.pass } : lastCompleted ? { lastCompleted } : {}),
    };
    await saveCursor(dr, key, cursor);
    if (this.failure) throw this.failure.error;

    return this.report(complete, cursor, key, remaining.length);
  }

  /** The pass the stored cursor holds, if it is this scope's and unfinished; else a new pass. */
  private resumeOrStartPass(
    stored: VerifyCursor | undefined,
    scope: VerifyScope,
  ): { work: WorkItem[]; lastCompleted: PassState | undefined } {
    const { source } = this.deps;
    const resumable =
      stored !== undefined &&
      stored.source === source.bucket &&
      stored.scope.prefix === scope.prefix &&
      stored.scope.deep === scope.deep &&
      stored.work.length > 0 &&
      !stored.pass.completedAt;
    if (resumable) {
      this.pass = stored.pass;
      return { work: stored.work, lastCompleted: stored.lastCompleted };
    }
    this.pass = {
      id: randomUUID(),
      startedAt: this.startedAt.toISOString(),
      runs: 0,
      counts: zeroCounts(),
      itemsDone: 0,
      nodes: 1,
    };
    const range = this.settings.range;
    // A range is one flat listing from its start: a delimited node listing started mid-prefix would roll
    // the keys after the start up into a common prefix it then skips.
    const first: WorkItem = range
      ? {
          kind: 'prefix',
          prefix: this.settings.prefix,
          ...(range.after === undefined ? {} : { after: range.after }),
        }
      : { kind: 'node', prefix: this.settings.prefix, depth: 0 };
    return {
      work: [first],
      lastCompleted: stored?.pass.completedAt ? stored.pass : stored?.lastCompleted,
    };
  }

  private report(complete: boolean, cursor: VerifyCursor, key: string, itemsRemaining: number): BucketReport {
    const { source, dr } = this.deps;
    const first = cursor.work[0];
    return {
      source: source.bucket,
      dr: dr.bucket,
      prefix: this.settings.prefix,
      counts: this.tally.counts,
      samples: this.tally.samples,
      pass: {
        complete,
        cursor: complete ? null : `s3://${dr.bucket}/${key}`,
        progress: complete ? 1 : this.pass.itemsDone / (this.pass.itemsDone + itemsRemaining),
        id: this.pass.id,
        startedAt: this.pass.startedAt,
        runs: this.pass.runs,
        counts: this.pass.counts,
        ...(first ? { resumeFrom: itemStart(first) } : {}),
        itemsDone: this.pass.itemsDone,
        itemsRemaining,
      },
      durationMs: this.deps.clock.now().getTime() - this.startedAt.getTime(),
      requests: this.requests,
      repairsQueued: this.repairsQueued,
      listingDisorder: this.disorder,
      unreplicable: this.tally.unreplicable,
      ...(this.settings.deep > 0 ? { deep: this.deep } : {}),
      ...(this.rules ? { rules: this.rules.report } : {}),
    };
  }

  /**
   * An entry a listing returned out of S3's order (a repeat, or a step back): S3 never does this with
   * `EncodingType=url`, so it is an endpoint fault or a key the listing could not carry. Stopping would
   * fail every pass forever; the merge leaves the entry out instead, and it is reported — counted, the
   * first keys sampled, each logged — rather than classified (docs/design.md, invariant 3: every failure
   * is visible, and nothing loops on one bad entry).
   */
  private noteDisorder(disorder: ListingDisorder): void {
    this.disorder.count += 1;
    if (this.disorder.samples.length >= MAX_SAMPLES) return;
    this.disorder.samples.push(disorder);
    this.deps.log.warn('a listing returned a key out of S3 key order; left out of the comparison', {
      action: 'verify',
      bucket: this.deps.source.bucket,
      ...disorder,
    });
  }

  /**
   * Runs work items `concurrency` at a time, in key order, adding the items finished nodes hand on. On
   * stop or failure, returns what is left (in-flight items with their positions, and untouched ones).
   */
  private async process(initial: WorkItem[]): Promise<{ remaining: WorkItem[]; done: number }> {
    const queue = new WorkQueue(initial, sortWork);
    const remaining: WorkItem[] = [];
    let done = 0;
    await queue.drain(
      this.settings.concurrency,
      async (item) => {
        try {
          const tally = new Tally();
          const outcome = await this.runItem(item, tally);
          this.tally.add(tally);
          if (outcome.done) {
            done += 1;
            queue.push(...outcome.children);
          } else {
            remaining.push(outcome.item);
          }
        } catch (error) {
          this.failure ??= { error };
          remaining.push(item);
        }
      },
      () => this.shouldStop(),
    );
    remaining.push(...queue.takeAll());
    return { remaining, done };
  }

  /** The source and DR listings of one work item, merged by the caller. */
  private itemListings(plan: ReturnType<typeof listingPlan>) {
    const { source, dr } = this.deps;
    const layout = this.settings.keyLayout;
    const bucket = source.bucket;
    const onRequest = () => {
      this.requests.list += 1;
    };
    const sourceEntries = listEntries(source, {
      prefix: plan.prefix,
      delimiter: plan.delimiter,
      startAfter: plan.startAfter,
      endBefore: plan.endBefore,
      // With the flat layout, source keys under the reserved prefix cannot be replicated: not compared.
      map: layout === 'flat' ? (k) => (k.startsWith(RESERVED_PREFIX) ? undefined : k) : (k) => k,
      onRequest,
    });
    const drEntries = listEntries(dr, {
      prefix: this.drPrefix + plan.prefix,
      delimiter: plan.delimiter,
      startAfter: plan.startAfter === undefined ? undefined : this.drPrefix + plan.startAfter,
      endBefore: plan.endBefore === undefined ? undefined : this.drPrefix + plan.endBefore,
      map: (k) => fromDrKey(layout, bucket, k),
      onRequest,
    });
    return { sourceEntries, drEntries };
  }

  /** The ledger a work item reads the previous pass's deferred checks from and writes this pass's to. */
  private itemLedger(item: WorkItem): ShardLedger {
    const id = shardId(item);
    return {
      reader: new LedgerReader(
        this.deps.dr,
        this.ledgerIn === undefined ? undefined : `${this.ledgerIn}${id}/`,
        item.ledger?.read ?? 0,
        this.deps.log,
      ),
      writer: new LedgerWriter(this.deps.dr, `${this.ledgerOut}${id}/`, item.ledger?.write ?? 0, () => {
        this.pass.ledgerPieces = (this.pass.ledgerPieces ?? 0) + 1;
      }),
    };
  }

  /** A work item's listing, ending after the range's last key when the pass covers a range. */
  private bounded(plan: ListingPlan): ListingPlan {
    const through = this.settings.range?.through;
    if (through === undefined) return plan;
    return {
      ...plan,
      // The page that reaches `through` holds every key up to it: no LIST past it.
      endBefore:
        plan.endBefore === undefined || compareKeys(through, plan.endBefore) < 0 ? through : plan.endBefore,
      accept: (key) => (compareKeys(key, through) > 0 ? 'stop' : plan.accept(key)),
    };
  }

  private async runItem(item: WorkItem, tally: Tally): Promise<ItemOutcome> {
    const checks: Checks = { pending: Promise.resolve(), tally };
    try {
      return await this.listItem(item, checks);
    } catch (error) {
      // No check may record after its item is handed back to be retried: a failure waits for them.
      await checks.pending.catch(() => undefined);
      throw error;
    }
  }

  /**
   * A batch of deferred keys is checked while the listing goes on: a flat listing (a job's shard) is one
   * page after another, and waiting for the HEADs stalled it. One batch at a time, so the ledgers are
   * read and written in key order and memory stays two batches (docs/verification.md#cost-and-speed).
   */
  private async checkInBackground(checks: Checks, deferred: Deferred[], ledger: ShardLedger): Promise<void> {
    await checks.pending;
    checks.pending = this.resolve(deferred.splice(0), ledger, checks.tally);
    // Awaited before the item ends; its failure must not surface as unhandled meanwhile.
    checks.pending.catch(() => undefined);
  }

  private async listItem(item: WorkItem, checks: Checks): Promise<ItemOutcome> {
    const plan = this.bounded(listingPlan(item));
    const { sourceEntries, drEntries } = this.itemListings(plan);
    const collector =
      item.kind === 'node' ? new PrefixCollector(this.limits.prefixBudget, item.collector) : undefined;
    const deferred: Deferred[] = [];
    const ledger = this.itemLedger(item);
    let after = item.after;
    let stopped = false;
    let finished = false;
    // Keys a listing returned out of order: the other listing's entry has no partner in the join, and is
    // not drift on that account (a key listed before its page was checked may still be, see docs/verification.md#how-it-scales-shards-in-parallel-in-bounded-memory).
    const unplaced = new Set<string>();
    const onDisorder = (disorder: ListingDisorder) => {
      this.noteDisorder(disorder);
      if (unplaced.size < MAX_UNPLACED) unplaced.add(disorder.key);
    };
    for await (const batch of mergeListings(sourceEntries, drEntries, undefined, onDisorder)) {
      const decisions = await this.rules?.decidePage(batch);
      for (const joined of batch) {
        // Resuming after a common prefix, S3 may roll the keys under it up into that prefix once more.
        if (item.after !== undefined && compareKeys(joined.key, item.after) <= 0) continue;
        if (this.shouldStop()) {
          stopped = true;
          break;
        }
        const verdict = plan.accept(joined.key);
        if (verdict === 'stop') {
          finished = true;
          break;
        }
        if (verdict === 'take') {
          const s = joined.source?.object;
          const d = joined.dr?.object;
          // A common prefix (from either side) is more work for the node, not a key to classify.
          if ((joined.source && !s) || (joined.dr && !d)) collector?.add(joined.key);
          const partnerUnplaced = !(s && d) && unplaced.has(joined.key);
          if ((s || d) && !partnerUnplaced)
            this.classify(checks.tally, joined.key, s, d, deferred, decisions?.get(joined.key));
        }
        after = joined.key;
      }
      if (deferred.length >= CHECK_BATCH) await this.checkInBackground(checks, deferred, ledger);
      if (this.repairs.length >= REPAIR_BATCH) await this.flushRepairs();
      if (stopped || finished) break;
    }
    await checks.pending;
    await this.resolve(deferred, ledger, checks.tally);
    await ledger.writer.flush(true);
    return this.itemOutcome(item, stopped, after, ledger, collector);
  }

  /** A stopped item resumes where it stopped; a finished one hands out the nodes its prefixes make. */
  private async itemOutcome(
    item: WorkItem,
    stopped: boolean,
    after: string | undefined,
    ledger: ShardLedger,
    collector: PrefixCollector | undefined,
  ): Promise<ItemOutcome> {
    if (stopped) {
      const resumed: WorkItem = {
        ...item,
        ...(after === undefined ? {} : { after }),
        ledger: { read: ledger.reader.position, write: ledger.writer.position },
      };
      if (resumed.kind === 'node' && collector) resumed.collector = collector.state();
      return { done: false, item: resumed };
    }
    await ledger.reader.discard();
    if (item.kind !== 'node' || !collector) return { done: true, children: [] };
    return {
      done: true,
      children: childItems(item, collector, this.limits, (count) => {
        if (this.pass.nodes + count > this.limits.maxNodes) return false;
        this.pass.nodes += count;
        return true;
      }),
    };
  }

  private isRecent(object: ListedObject): boolean {
    return object.lastModified.getTime() > this.graceCutoff;
  }

  /** Classifies what the listings alone can decide; defers what needs a HEAD or a content check. */
  private classify(
    tally: Tally,
    key: string,
    s: ListedObject | undefined,
    d: ListedObject | undefined,
    deferred: Deferred[],
    rule?: RuleDecision,
  ): void {
    if (rule && !rule.replicate) {
      this.rules?.recordExcluded(key);
      return;
    }
    if (!d) {
      if (s && this.isRecent(s)) this.record(tally, 'pending', key, s);
      // Missing, or a source S3 cannot copy: its HEAD says which (listings show no SSE-C, no archive tier).
      else if (s) deferred.push({ key, source: s, drEtag: undefined, head: false });
    } else if (!s) {
      this.record(tally, 'orphaned', key, undefined, undefined, rule?.deletePolicy);
    } else if (rule && this.rules?.wrongStorageClass(key, d, rule)) {
      // A recent write may be on its way in the right class; otherwise the repair copies it again.
      this.record(tally, this.isRecent(s) ? 'pending' : 'mismatched', key, s);
    } else if (s.size === d.size && s.etag === d.etag) {
      if (isSampled(key, this.settings.deep)) deferred.push({ key, source: s, drEtag: d.etag, head: false });
      else this.record(tally, 'ok', key, s);
    } else if (this.isRecent(s)) {
      this.record(tally, 'pending', key, s);
    } else if (s.size !== d.size) {
      this.record(tally, 'mismatched', key, s);
    } else {
      // Same size, other ETag: SSE-KMS or another part layout, or other bytes. The DR copy says which.
      deferred.push({ key, source: s, drEtag: d.etag, head: true });
    }
  }

  /**
   * Resolves deferred keys, a few at a time, and empties the list: first from the ledger (in key order, a
   * sorted stream), then with HEADs and content checks. Keys whose differing ETags were confirmed go into
   * the new ledger.
   */
  private async resolve(deferred: Deferred[], ledger: ShardLedger, tally: Tally): Promise<void> {
    const batch = deferred.splice(0);
    if (batch.length === 0) return;
    const known = new Set<string>();
    for (const d of batch) {
      if (!d.head) continue;
      const pair = await ledger.reader.lookup(d.key);
      if (pair && pair.sourceEtag === d.source.etag && pair.drEtag === d.drEtag) known.add(d.key);
    }
    await mapConcurrent(batch, CHECK_CONCURRENCY, async ({ key, source, drEtag, head }) => {
      const drKey = this.drPrefix + key;
      if (drEtag === undefined) return this.missingOrUnreplicable(tally, key, source);
      let drEtagNow = drEtag;
      if (head && !known.has(key)) {
        this.requests.head += 1;
        const drHead = await this.deps.dr.head(drKey);
        if (!drHead) {
          if (this.isRecent(source)) return this.record(tally, 'pending', key, source);
          return this.missingOrUnreplicable(tally, key, source);
        }
        if (drHead.size !== source.size) return this.record(tally, 'mismatched', key, source);
        const recorded = drHead.metadata[META_SOURCE_ETAG];
        if ((recorded ?? drHead.etag) !== source.etag) {
          // A recorded ETag decides. Without one (KMS copies are not rewritten to record it, and it is not
          // written where metadata is at S3's limit), S3's full-object checksums — computed on the
          // plaintext — do; checksums that differ or cannot be compared mean the copy is redone.
          if (recorded !== undefined || !(await this.sameChecksums(key, drKey))) {
            return this.record(tally, 'mismatched', key, source);
          }
        }
        drEtagNow = drHead.etag;
      }
      if (isSampled(key, this.settings.deep)) {
        const result = await compareContent(this.deps.source, key, this.deps.dr, drKey, this.requests);
        this.deep.methods[result.method] = (this.deep.methods[result.method] ?? 0) + 1;
        const samples = this.deep.samples[result.method] ?? [];
        this.deep.samples[result.method] = samples;
        if (samples.length < MAX_SAMPLES) samples.push(key);
        // The DR copy's metadata vouches for the source ETag, so replicate would trust it: the repair
        // names the copy (by its ETag) to be rewritten.
        if (!result.same) return this.record(tally, 'mismatched', key, source, drEtagNow);
        if (this.settings.copyTags) await this.checkTags(key, drKey, source);
      }
      if (head) ledger.writer.add(key, source.etag, drEtagNow);
      return this.record(tally, 'ok', key, source);
    });
    // Every key up to the batch's last is settled: full pieces can be written in order.
    await ledger.writer.flush();
  }

  /** Whether both copies hold the same full-object checksum (GetObjectAttributes on each). */
  private async sameChecksums(key: string, drKey: string): Promise<boolean> {
    this.requests.attributes += 2;
    const [a, b] = await Promise.all([this.deps.source.checksums(key), this.deps.dr.checksums(drKey)]);
    return compareChecksums(a, b).kind === 'same';
  }

  /**
   * Deep mode, copyTags on: a key whose DR copy has the right bytes but other tags stays `ok` (its
   * content is), is counted and sampled as tag drift, and gets a repair task: replicate compares the tag
   * sets of a `Verify:*` task and rewrites the DR tags alone.
   */
  private async checkTags(key: string, drKey: string, source: ListedObject): Promise<void> {
    this.deep.tags ??= { compared: 0, drifted: 0, samples: [] };
    const tags = this.deep.tags;
    tags.compared += 1;
    if (await compareTags(this.deps.source, key, this.deps.dr, drKey, this.requests)) return;
    tags.drifted += 1;
    if (tags.samples.length < MAX_SAMPLES) tags.samples.push(key);
    if (this.settings.repair) this.queueRepair(key, source);
  }

  /**
   * A source key without a DR copy: `missing` (drift, repaired), or `unreplicable` when its HEAD shows
   * an archived object without a restored copy or an SSE-C one. Costs one HEAD, only for keys that would
   * otherwise be missing, so a clean pass costs none.
   */
  private async missingOrUnreplicable(tally: Tally, key: string, source: ListedObject): Promise<void> {
    this.requests.head += 1;
    let reason: UnreplicableReason | undefined;
    try {
      const head = await this.deps.source.head(key);
      reason = head ? unreplicableReason(head) : undefined;
    } catch (error) {
      if (!(error instanceof SseCustomerKeyRequiredError)) throw error;
      reason = 'sse-c';
    }
    if (!reason) return this.record(tally, 'missing', key, source);
    tally.recordUnreplicable(key, reason);
    // Only a thaw can change an archived object's state; without one a repair would change nothing.
    if (this.settings.repair && this.settings.thawArchivedSources && isArchivedReason(reason)) {
      this.queueRepair(key, source);
    }
  }

  private record(
    tally: Tally,
    cls: VerifyClass,
    key: string,
    source: ListedObject | undefined,
    condemnedDrEtag?: string,
    deletePolicy = this.settings.deletePolicy,
  ): void {
    tally.record(cls, key);
    if (!this.settings.repair) return;
    const repair =
      cls === 'missing' || cls === 'mismatched' || (cls === 'orphaned' && deletePolicy === 'mirror');
    if (!repair) return;
    this.queueRepair(key, source, condemnedDrEtag);
  }

  private queueRepair(key: string, source: ListedObject | undefined, condemnedDrEtag?: string): void {
    this.repairs.push({
      v: 1,
      bucket: this.deps.source.bucket,
      key,
      eventName: REPAIR_EVENT,
      eventTime: this.deps.clock.now().toISOString(),
      ...(source ? { size: source.size, etag: source.etag } : {}),
      ...(condemnedDrEtag === undefined ? {} : { drEtag: condemnedDrEtag }),
    });
  }

  private async flushRepairs(): Promise<void> {
    const batch = this.repairs.splice(0);
    if (batch.length === 0 || !this.deps.queue) return;
    await this.deps.queue.send(batch);
    this.repairsQueued += batch.length;
  }
}
