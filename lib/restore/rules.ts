import { ObjectNotFoundError } from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { ObjectStore } from '../core/ports.ts';
import {
  decideByKey,
  decideRule,
  type ReplicationRule,
  type RuleDefaults,
} from '../core/replication-rules.ts';
import type { KeyPlan } from './plan.ts';
import { versionIdOf } from './plan.ts';

/** Keys a restore report names per rule. */
const SAMPLE_SIZE = 10;
/** Tag reads for rule decisions per invocation, at most; keys beyond are reported undecided. */
const MAX_TAG_READS = 1000;
const TAGS_CONCURRENCY = 16;

/** Per rule (its id, `(default)` for keys no rule matches): the keys of this invocation's plan. */
export interface RestoreRulesReport {
  byRule: Record<string, { objects: number; sample: string[] }>;
  /** Keys whose rule depends on tags beyond the read budget (none below 1,000 such keys: the reads come after the keys, before the deadline margin). */
  undecided: number;
  /** GetObjectTagging requests made to decide tag rules (on the DR versions restored). */
  taggingRequests: number;
}

/**
 * Which replication rule each key a restore planned came under (lib/core/replication-rules.ts), for the
 * report: decided from the key where a prefix settles it, otherwise from the tags of the DR version the
 * plan restores (one GetObjectTagging each, made only with tag rules, after the keys are done).
 */
export class RestoreRules {
  private readonly report: RestoreRulesReport = { byRule: {}, undecided: 0, taggingRequests: 0 };
  private readonly pending: { key: string; drKey: string; versionId: string | undefined }[] = [];

  private readonly rules: readonly ReplicationRule[];
  private readonly defaults: RuleDefaults;
  private readonly dr: ObjectStore;

  constructor(rules: readonly ReplicationRule[], defaults: RuleDefaults, dr: ObjectStore) {
    this.rules = rules;
    this.defaults = defaults;
    this.dr = dr;
  }

  /** Notes one planned key. */
  note(plan: KeyPlan): void {
    const decided = decideByKey(this.rules, plan.key, this.defaults);
    if (decided) {
      this.add(decided.rule, plan.key);
      return;
    }
    if (this.pending.length >= MAX_TAG_READS) {
      this.report.undecided += 1;
      return;
    }
    // A plan without a version (nothing to restore as of then) is decided by the current DR copy's tags.
    const versionId = 'version' in plan ? versionIdOf(plan.version) : undefined;
    this.pending.push({ key: plan.key, drKey: plan.drKey, versionId });
  }

  private add(rule: string, key: string): void {
    const entry = this.report.byRule[rule] ?? { objects: 0, sample: [] };
    this.report.byRule[rule] = entry;
    entry.objects += 1;
    if (entry.sample.length < SAMPLE_SIZE) entry.sample.push(key);
  }

  /** Decides the keys that need tags, and returns the report. */
  async finish(): Promise<RestoreRulesReport> {
    const pending = this.pending.splice(0);
    const decided = await mapConcurrent(pending, TAGS_CONCURRENCY, async (p) =>
      decideRule(this.rules, p.key, this.defaults, async () => {
        this.report.taggingRequests += 1;
        try {
          return await this.dr.getTags(p.drKey, p.versionId);
        } catch (error) {
          if (!(error instanceof ObjectNotFoundError)) throw error;
          return {};
        }
      }),
    );
    decided.forEach((d, i) => {
      this.add(d.rule, pending[i]?.key ?? '');
    });
    return this.report;
  }
}
