import { ObjectNotFoundError } from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { ListedObject, ObjectStore } from '../core/ports.ts';
import {
  decideByKey,
  decideRule,
  type ReplicationRule,
  type RuleDecision,
  type RuleDefaults,
} from '../core/replication-rules.ts';
import { MAX_SAMPLES } from './report.ts';

/** What a verify run reports about replication rules (only when the stage has rules). */
export interface RulesReport {
  /** Keys a rule excludes: neither missing nor orphaned, not compared. */
  excluded: number;
  /** DR copies found in another storage class than their rule's (counted as `mismatched`, repaired). */
  wrongStorageClass: number;
  /** GetObjectTagging requests made to decide tag rules (none without tag filters). */
  taggingRequests: number;
  samples: { excluded: string[]; wrongStorageClass: string[] };
}

/** Keys whose tags are read at once, per page. */
const TAGS_CONCURRENCY = 16;

/**
 * The verifier's view of the replication rules (lib/core/replication-rules.ts), one per bucket verification.
 * Keys a prefix settles are decided from the listing alone; keys a tag rule may match need their tags —
 * the source's, or the DR copy's when the source has none (copyTags keeps them equal) — one
 * GetObjectTagging each, read for a whole merged page at once before it is classified, so the merge
 * order the ledger relies on is kept. Listing costs stay as they are: excluded keys are still listed.
 */
export class VerifyRules {
  readonly report: RulesReport = {
    excluded: 0,
    wrongStorageClass: 0,
    taggingRequests: 0,
    samples: { excluded: [], wrongStorageClass: [] },
  };
  private readonly rules: readonly ReplicationRule[];
  private readonly defaults: RuleDefaults;
  private readonly source: ObjectStore;
  private readonly dr: ObjectStore;
  private readonly drKeyOf: (key: string) => string;

  constructor(options: {
    rules: readonly ReplicationRule[];
    defaults: RuleDefaults;
    source: ObjectStore;
    dr: ObjectStore;
    drKeyOf: (key: string) => string;
  }) {
    this.rules = options.rules;
    this.defaults = options.defaults;
    this.source = options.source;
    this.dr = options.dr;
    this.drKeyOf = options.drKeyOf;
  }

  /** Decides every key of a merged page (source key space); reads tags only where a tag rule may match. */
  async decidePage(
    entries: readonly { key: string; source?: { object?: ListedObject }; dr?: { object?: ListedObject } }[],
  ): Promise<Map<string, RuleDecision>> {
    const decisions = new Map<string, RuleDecision>();
    const needTags: { key: string; hasSource: boolean }[] = [];
    for (const e of entries) {
      const hasSource = e.source?.object !== undefined;
      if (!hasSource && e.dr?.object === undefined) continue;
      const decided = decideByKey(this.rules, e.key, this.defaults);
      if (decided) decisions.set(e.key, decided);
      else needTags.push({ key: e.key, hasSource });
    }
    await mapConcurrent(needTags, TAGS_CONCURRENCY, async ({ key, hasSource }) => {
      decisions.set(key, await decideRule(this.rules, key, this.defaults, () => this.tagsOf(key, hasSource)));
    });
    return decisions;
  }

  private async tagsOf(key: string, hasSource: boolean): Promise<Record<string, string>> {
    if (hasSource) {
      try {
        this.report.taggingRequests += 1;
        return await this.source.getTags(key);
      } catch (error) {
        // Deleted since it was listed: its DR copy's tags stand for it, as in replicate.
        if (!(error instanceof ObjectNotFoundError)) throw error;
      }
    }
    try {
      this.report.taggingRequests += 1;
      return await this.dr.getTags(this.drKeyOf(key));
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
      return {};
    }
  }

  recordExcluded(key: string): void {
    this.report.excluded += 1;
    if (this.report.samples.excluded.length < MAX_SAMPLES) this.report.samples.excluded.push(key);
  }

  /**
   * True (and counted) when the DR copy, as listed, is in another storage class than its rule's.
   * ListObjectsV2 names the class of every object, S3 Standard included (`StorageClass` of `Contents`).
   */
  wrongStorageClass(key: string, dr: ListedObject, decision: RuleDecision): boolean {
    if ((dr.storageClass ?? 'STANDARD') === decision.drStorageClass) return false;
    this.report.wrongStorageClass += 1;
    if (this.report.samples.wrongStorageClass.length < MAX_SAMPLES) {
      this.report.samples.wrongStorageClass.push(key);
    }
    return true;
  }
}
