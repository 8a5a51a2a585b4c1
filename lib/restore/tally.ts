import type { ListingDisorder } from '../core/merge-listings.ts';
import type { ThawTier } from '../core/storage-classes.ts';
import type { Log } from '../core/telemetry.ts';
import { type KeyPlan, RESTORE_ACTIONS, type RestoreAction } from './plan.ts';
import type { RestoreRules } from './rules.ts';

/** Keys listed in the report per action or result, so a person can see what is meant. */
const SAMPLE_SIZE = 10;
/** Errors and thaws listed in full in the report (all are counted). */
export const DETAIL_LIMIT = 20;

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

/** What became of one key in a restore. */
export type KeyOutcome =
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

export function bytesOf(plan: KeyPlan): number {
  return 'version' in plan ? (plan.version.size ?? 0) : 0;
}

/**
 * The counts of one restore invocation: keys examined, planned per action, what a real run did, the
 * thaws and failures listed in full (up to {@link DETAIL_LIMIT}), and the warnings the outcomes raise.
 */
export class RestoreTally {
  examined = 0;
  readonly plan = Object.fromEntries(RESTORE_ACTIONS.map((a) => [a, tally()])) as Record<
    RestoreAction,
    Tally
  >;
  readonly results = { restored: tally(), thawing: tally(), failed: tally() };
  readonly thawing: ThawEntry[] = [];
  readonly failures: { key: string; error: string }[] = [];
  private tierWarned = false;
  /** The tier the request asked for: a thaw with another one is worth one warning. */
  private readonly thawTier: ThawTier;
  /** The report's warnings, which this tally adds to. */
  private readonly warnings: string[];
  private readonly byRule: RestoreRules | undefined;

  constructor(thawTier: ThawTier, warnings: string[], byRule: RestoreRules | undefined) {
    this.thawTier = thawTier;
    this.warnings = warnings;
    this.byRule = byRule;
  }

  /** Counts one key's outcome; a key not started or interrupted is left for the next run. */
  record(outcome: KeyOutcome): void {
    if (outcome.kind === 'not-started' || outcome.kind === 'interrupted') return;
    this.examined += 1;
    if (outcome.plan) this.byRule?.note(outcome.plan);
    if (outcome.plan) add(this.plan[outcome.plan.action], outcome.plan.key, bytesOf(outcome.plan));
    switch (outcome.kind) {
      case 'restored':
        add(this.results.restored, outcome.plan.key, outcome.bytes);
        break;
      case 'thawing':
        add(this.results.thawing, outcome.plan.key, bytesOf(outcome.plan));
        if (this.thawing.length < DETAIL_LIMIT) this.thawing.push(outcome.entry);
        break;
      case 'failed':
        add(this.results.failed, outcome.key, outcome.bytes);
        this.addFailure(outcome.key, `${outcome.error.name}: ${outcome.error.message}`);
        break;
      case 'planned':
        if (outcome.plan.action === 'thaw-needed' && this.thawing.length < DETAIL_LIMIT) {
          const p = outcome.plan;
          this.thawing.push({
            key: p.key,
            storageClass: p.storageClass,
            tier: p.tier,
            expectedWait: p.expectedWait,
            state: p.thaw,
          });
        }
        break;
    }
    this.warnOfOtherTier(outcome.plan);
  }

  /**
   * Counts the DR keys a listing returned out of S3's order as failures (docs/design.md, invariant 3):
   * they were left out, and the report names them so that they can be restored by `keys`.
   */
  recordLeftOut(disorder: readonly ListingDisorder[], dryRun: boolean): void {
    for (const d of disorder) {
      if (d.listing !== 'DR') continue;
      this.addFailure(
        d.key,
        d.kind === 'repeats'
          ? 'ListingOrderError: the DR listing returned this key twice; the second entry was left out — it may be another key listed under this name (an endpoint that ignores EncodingType=url)'
          : `ListingOrderError: the DR listing returned this key after ${JSON.stringify(d.after)}, out of S3 key order; left out — restore it with "keys"`,
      );
      if (!dryRun) add(this.results.failed, d.key, 0);
    }
  }

  private addFailure(key: string, error: string): void {
    if (this.failures.length < DETAIL_LIMIT) this.failures.push({ key, error });
  }

  private warnOfOtherTier(p: KeyPlan | undefined): void {
    if (p?.action === 'thaw-needed' && p.tier !== this.thawTier && !this.tierWarned) {
      this.tierWarned = true;
      this.warnings.push(
        `${p.storageClass} has no ${this.thawTier} retrieval tier: such copies are thawed with ${p.tier}`,
      );
    }
  }
}

/**
 * The listing entries that came back out of S3's order (docs/design.md, invariant 3): each is logged,
 * all are counted, and the first {@link DETAIL_LIMIT} are kept for the report.
 */
export class ListingDisorderLog {
  readonly entries: ListingDisorder[] = [];
  count = 0;
  private readonly logger: Pick<Log, 'warn'>;

  constructor(logger: Pick<Log, 'warn'>) {
    this.logger = logger;
  }

  /** The callback the listings call for each entry out of order. */
  readonly note = (d: ListingDisorder): void => {
    this.count += 1;
    if (this.entries.length < DETAIL_LIMIT) this.entries.push(d);
    this.logger.warn('a listing returned a key out of S3 key order', { action: 'restore', ...d });
  };

  /** The report's warning about them, if there were any. */
  warning(): string | undefined {
    if (this.count === 0) return undefined;
    return `${this.count} listing entr${this.count === 1 ? 'y' : 'ies'} came back out of S3 key order (never from S3 with EncodingType=url): DR keys among them were left out and are listed under failures; after a target listing went out of order, the target was checked with HEADs`;
  }
}
