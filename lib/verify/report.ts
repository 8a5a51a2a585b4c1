import { RESERVED_PREFIX } from '../core/config.ts';
import type { ListingDisorder } from '../core/merge-listings.ts';
import type { UnreplicableReason } from '../core/unreplicable.ts';
import { CLASSES, type Counts, type VerifyClass, zeroCounts } from './cursor.ts';
import type { RulesReport } from './rules.ts';

/** Keys kept per class (and per deep method) in a report. */
export const MAX_SAMPLES = 100;

export type Samples = Record<VerifyClass, string[]>;

export interface RequestCounts {
  /** ListObjectsV2 requests, both buckets, discovery included. */
  list: number;
  /** HeadObject requests (only where ETags differ). */
  head: number;
  /** GetObjectAttributes requests (deep mode). */
  attributes: number;
  /** GetObject requests (deep mode, where no checksum is shared). */
  get: number;
  /** GetObjectTagging requests (deep mode with copyTags: both sides of each compared key). */
  tagging: number;
}

export interface PassReport {
  /** True when this run finished the pass: every key of the scope was compared since it started. */
  complete: boolean;
  /** Where the pass resumes (the cursor object), or null when it is complete. */
  cursor: string | null;
  /** Share of the pass done, 0–1 (work items done / known; an estimate until discovery is over). */
  progress: number;
  id: string;
  startedAt: string;
  /** Runs that worked on this pass, this one included. */
  runs: number;
  /** Counts over the whole pass so far. */
  counts: Counts;
  /** The smallest key the remaining work starts from (everything is in order before it), if any. */
  resumeFrom?: string;
  itemsDone: number;
  itemsRemaining: number;
}

export interface DeepReport {
  /** Keys whose content was compared, by method: `checksum:<ALGORITHM>` or `hash:sha256`. */
  methods: Record<string, number>;
  samples: Record<string, string[]>;
  /**
   * Tag sets compared (copyTags on): `drifted` keys have the source's bytes in DR but other tags, which
   * a restore would bring back; a repair task makes replicate rewrite their DR tags.
   */
  tags?: { compared: number; drifted: number; samples: string[] };
}

/** Entries the listings returned out of S3's key order, left out of the comparison (see verify-bucket.ts). */
export interface DisorderReport {
  count: number;
  /** The first ones: which listing, the key, the key it came after, and how. */
  samples: ListingDisorder[];
}

/** Source keys S3 cannot copy as they are, by reason, with samples that say why. */
export interface UnreplicableReport {
  byReason: Partial<Record<UnreplicableReason, number>>;
  samples: { key: string; reason: UnreplicableReason }[];
}

export interface BucketReport {
  source: string;
  dr: string;
  prefix: string;
  counts: Counts;
  samples: Samples;
  pass: PassReport;
  durationMs: number;
  requests: RequestCounts;
  /** Repair tasks put on the replication queue. */
  repairsQueued: number;
  /** Entries listed out of order: 0 against S3; anything else names an endpoint fault to look at. */
  listingDisorder: DisorderReport;
  unreplicable: UnreplicableReport;
  deep?: DeepReport;
  /** With replication rules: keys excluded, DR copies in the wrong class, tags read (lib/verify/rules.ts). */
  rules?: RulesReport;
}

/** What `verify` returns, and writes under `.s3dr/reports/verify/`. */
export interface VerifyReport {
  runId: string;
  startedAt: string;
  durationMs: number;
  repair: boolean;
  deep: number;
  graceSeconds: number;
  prefix: string;
  /** Sum over the buckets verified. */
  counts: Counts;
  /** Keys by class (bucket-qualified, `bucket/key`, when more than one bucket was verified). */
  samples: Samples;
  /** Complete when every bucket's pass is; the cursor and progress of the least advanced one. */
  pass: { complete: boolean; cursor: string | null; progress: number };
  requests: RequestCounts;
  repairsQueued: number;
  /** Sum over the buckets verified (samples from each, up to the limit). */
  listingDisorder: DisorderReport;
  unreplicable: UnreplicableReport;
  buckets: BucketReport[];
  /** Where this report was written in the DR bucket. */
  reportKey: string;
}

/** No sample keys yet, for each class. */
export const emptySamples = (): Samples => ({
  ok: [],
  missing: [],
  mismatched: [],
  orphaned: [],
  pending: [],
  unreplicable: [],
});
/** No requests made yet. */
export const zeroRequests = (): RequestCounts => ({ list: 0, head: 0, attributes: 0, get: 0, tagging: 0 });

/** Per-run counts and samples. */
export class Tally {
  readonly counts: Counts = zeroCounts();
  readonly samples: Samples = emptySamples();
  readonly unreplicable: UnreplicableReport = { byReason: {}, samples: [] };

  record(cls: VerifyClass, key: string): void {
    this.counts[cls] += 1;
    const samples = this.samples[cls];
    if (samples.length < MAX_SAMPLES) samples.push(key);
  }

  /** An `unreplicable` key, with why. */
  recordUnreplicable(key: string, reason: UnreplicableReason): void {
    this.record('unreplicable', key);
    this.unreplicable.byReason[reason] = (this.unreplicable.byReason[reason] ?? 0) + 1;
    if (this.unreplicable.samples.length < MAX_SAMPLES) this.unreplicable.samples.push({ key, reason });
  }

  /** Adds another tally's counts and samples (up to the limit). */
  add(other: Tally): void {
    for (const cls of CLASSES) {
      this.counts[cls] += other.counts[cls];
      const samples = this.samples[cls];
      samples.push(...other.samples[cls].slice(0, MAX_SAMPLES - samples.length));
    }
    for (const [reason, n] of Object.entries(other.unreplicable.byReason) as [UnreplicableReason, number][])
      this.unreplicable.byReason[reason] = (this.unreplicable.byReason[reason] ?? 0) + n;
    const room = MAX_SAMPLES - this.unreplicable.samples.length;
    this.unreplicable.samples.push(...other.unreplicable.samples.slice(0, Math.max(0, room)));
  }
}

/** Key of a run's report: sorted by time, so the newest lists last. */
export function reportKey(startedAt: Date, runId: string): string {
  const stamp = startedAt.toISOString().replace(/:/g, '-');
  return `${RESERVED_PREFIX}reports/verify/${stamp}-${runId.slice(0, 8)}.json`;
}

/** Aggregates bucket reports into the run report. */
export function runReport(
  base: Pick<
    VerifyReport,
    'runId' | 'startedAt' | 'repair' | 'deep' | 'graceSeconds' | 'prefix' | 'reportKey'
  >,
  buckets: BucketReport[],
  durationMs: number,
): VerifyReport {
  const counts = zeroCounts();
  const samples = emptySamples();
  const requests = zeroRequests();
  let repairsQueued = 0;
  const listingDisorder: DisorderReport = { count: 0, samples: [] };
  const unreplicable: UnreplicableReport = { byReason: {}, samples: [] };
  const qualify = buckets.length > 1;
  for (const b of buckets) {
    for (const [reason, n] of Object.entries(b.unreplicable.byReason) as [UnreplicableReason, number][]) {
      unreplicable.byReason[reason] = (unreplicable.byReason[reason] ?? 0) + n;
    }
    for (const sample of b.unreplicable.samples) {
      if (unreplicable.samples.length < MAX_SAMPLES) {
        unreplicable.samples.push({ ...sample, key: qualify ? `${b.source}/${sample.key}` : sample.key });
      }
    }
    for (const c of CLASSES) {
      counts[c] += b.counts[c];
      for (const key of b.samples[c]) {
        if (samples[c].length < MAX_SAMPLES) samples[c].push(qualify ? `${b.source}/${key}` : key);
      }
    }
    requests.list += b.requests.list;
    requests.head += b.requests.head;
    requests.attributes += b.requests.attributes;
    requests.get += b.requests.get;
    requests.tagging += b.requests.tagging;
    repairsQueued += b.repairsQueued;
    listingDisorder.count += b.listingDisorder.count;
    for (const d of b.listingDisorder.samples) {
      if (listingDisorder.samples.length < MAX_SAMPLES)
        listingDisorder.samples.push(qualify ? { ...d, key: `${b.source}/${d.key}` } : d);
    }
  }
  const laggard = [...buckets].sort((a, b) => a.pass.progress - b.pass.progress)[0];
  const complete = buckets.every((b) => b.pass.complete);
  return {
    ...base,
    durationMs,
    counts,
    samples,
    pass: {
      complete,
      cursor: complete ? null : (buckets.find((b) => !b.pass.complete)?.pass.cursor ?? null),
      progress: laggard?.pass.progress ?? 1,
    },
    requests,
    repairsQueued,
    listingDisorder,
    unreplicable,
    buckets,
  };
}
