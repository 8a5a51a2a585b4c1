/**
 * The state of a verify job in the DR bucket, beside every job's (lib/jobs/model.ts):
 *
 *   .s3dr/jobs/<id>/plan.json          how far planning got: which source bucket, the last key cut through
 *   .s3dr/jobs/<id>/shards/<n>.json    one shard: a source bucket's key range, runs so far, what they found
 *   .s3dr/jobs/<id>/done/<n>           a marker per finished shard (JobStore.markDone / countDone)
 *
 * A shard's position in its pass is not here: it is the verifier's own cursor for the range
 * (`cursorKey(bucket, scope, range)`, with its ETag ledger beside it), so a shard killed mid-way
 * resumes where its last run stopped, and the same range of the next job reads the ledger this one wrote.
 */

import type { UnreplicableReason } from '../core/unreplicable.ts';
import * as z from '../core/zod.ts';
import { jobKeys } from '../jobs/model.ts';
import { CLASSES, zeroCounts } from './cursor.ts';
import {
  type BucketReport,
  type DeepReport,
  emptySamples,
  MAX_SAMPLES,
  type RequestCounts,
  zeroRequests,
} from './report.ts';
import type { RulesReport } from './rules.ts';

const int = () => z.number().check(z.int(), z.nonnegative());

export const verifyPlanSchema = z.object({
  v: z.literal(1),
  /** Planning steps done; a redelivered message of an earlier step is a no-op. */
  step: int(),
  /** The source bucket being cut (index into the request's sorted sources). */
  bucket: int(),
  /** The last source key cut through in that bucket (exclusive start of the next shard). */
  after: z.optional(z.string()),
  shards: int(),
  /** Source keys counted while cutting (in scope; DR-only keys are found by the shards). */
  objects: int(),
  done: z.boolean(),
});
export type VerifyPlan = z.infer<typeof verifyPlanSchema>;

export const verifyShardSchema = z.object({
  v: z.literal(1),
  shard: int(),
  bucket: z.string(),
  /** Source keys after `after` through `through`; either end open at the scope's start or end. */
  range: z.object({ after: z.optional(z.string()), through: z.optional(z.string()) }),
  /** Source keys counted in the range when it was cut. */
  objects: int(),
  state: z.enum(['pending', 'done', 'failed', 'cancelled']),
  /** Runs recorded: message `run: n` is the (n+1)th, so a redelivery of a recorded run is a no-op. */
  runs: int(),
  /** The highest run whose message was sent (a redelivery re-sends the next only below it). */
  queued: int(),
  /** Keys this job's runs of the shard classified. */
  checked: int(),
  /** This job's runs summed (counts are the runs'; `pass` is the latest run's, with the pass totals). */
  found: z.optional(z.record(z.string(), z.unknown())),
  error: z.optional(z.string()),
  updatedAt: z.iso.datetime(),
});
export type VerifyShard = z.infer<typeof verifyShardSchema>;

export interface Stored<T> {
  value: T;
  etag: string;
}

type Condition = { ifNoneMatch: '*' } | { ifMatch: string };

interface TextStore {
  readText(key: string): Promise<{ body: string; etag: string } | undefined>;
  putTextIf(key: string, body: string, condition: Condition): Promise<boolean>;
}

async function read<T>(dr: TextStore, key: string, schema: z.ZodMiniType<T>): Promise<Stored<T> | undefined> {
  const text = await dr.readText(key);
  return text === undefined ? undefined : { value: schema.parse(JSON.parse(text.body)), etag: text.etag };
}

export const readPlan = (dr: TextStore, id: string) => read(dr, jobKeys.plan(id), verifyPlanSchema);
export const writePlan = (dr: TextStore, id: string, plan: VerifyPlan, condition: Condition) =>
  dr.putTextIf(jobKeys.plan(id), JSON.stringify(plan), condition);
export const readShard = (dr: TextStore, id: string, n: number) =>
  read(dr, jobKeys.shard(id, n), verifyShardSchema);
export const writeShard = (dr: TextStore, id: string, shard: VerifyShard, condition: Condition) =>
  dr.putTextIf(jobKeys.shard(id, shard.shard), JSON.stringify(shard), condition);

/** `bucket (after, through]` for messages that name a shard. */
export function describeShard(shard: Pick<VerifyShard, 'shard' | 'bucket' | 'range'>): string {
  const { after, through } = shard.range;
  return `shard ${shard.shard} (${shard.bucket}, keys after ${after === undefined ? 'the start' : JSON.stringify(after)} through ${through === undefined ? 'the end' : JSON.stringify(through)})`;
}

/** A bucket report with nothing in it: a bucket none of whose shards ran yet. */
export function emptyBucketReport(source: string, dr: string, prefix: string): BucketReport {
  return {
    source,
    dr,
    prefix,
    counts: zeroCounts(),
    samples: emptySamples(),
    pass: {
      complete: false,
      cursor: null,
      progress: 0,
      id: '',
      startedAt: '',
      runs: 0,
      counts: zeroCounts(),
      itemsDone: 0,
      itemsRemaining: 0,
    },
    durationMs: 0,
    requests: zeroRequests(),
    repairsQueued: 0,
    listingDisorder: { count: 0, samples: [] },
    unreplicable: { byReason: {}, samples: [] },
  };
}

const capped = <T>(a: readonly T[], b: readonly T[]) => [...a, ...b].slice(0, MAX_SAMPLES);

function sumRequests(a: RequestCounts, b: RequestCounts): RequestCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof RequestCounts)[]) out[k] += b[k];
  return out;
}

function sumDeep(a: DeepReport | undefined, b: DeepReport | undefined): DeepReport | undefined {
  if (!a || !b) return a ?? b;
  const methods = { ...a.methods };
  const samples = { ...a.samples };
  for (const [m, n] of Object.entries(b.methods)) methods[m] = (methods[m] ?? 0) + n;
  for (const [m, s] of Object.entries(b.samples)) samples[m] = capped(samples[m] ?? [], s);
  const tags =
    a.tags && b.tags
      ? {
          compared: a.tags.compared + b.tags.compared,
          drifted: a.tags.drifted + b.tags.drifted,
          samples: capped(a.tags.samples, b.tags.samples),
        }
      : (a.tags ?? b.tags);
  return { methods, samples, ...(tags ? { tags } : {}) };
}

function sumRules(a: RulesReport | undefined, b: RulesReport | undefined): RulesReport | undefined {
  if (!a || !b) return a ?? b;
  return {
    excluded: a.excluded + b.excluded,
    wrongStorageClass: a.wrongStorageClass + b.wrongStorageClass,
    taggingRequests: a.taggingRequests + b.taggingRequests,
    samples: {
      excluded: capped(a.samples.excluded, b.samples.excluded),
      wrongStorageClass: capped(a.samples.wrongStorageClass, b.samples.wrongStorageClass),
    },
  };
}

/**
 * Two bucket reports of one bucket as one: counts, requests, repairs, durations and findings summed,
 * samples kept up to the report's limit; `pass` is the later one's (`b`).
 */
export function sumBucketReports(a: BucketReport, b: BucketReport): BucketReport {
  const counts = zeroCounts();
  const samples = emptySamples();
  for (const c of CLASSES) {
    counts[c] = a.counts[c] + b.counts[c];
    samples[c] = capped(a.samples[c], b.samples[c]);
  }
  const byReason = { ...a.unreplicable.byReason };
  for (const [reason, n] of Object.entries(b.unreplicable.byReason) as [UnreplicableReason, number][])
    byReason[reason] = (byReason[reason] ?? 0) + n;
  const deep = sumDeep(a.deep, b.deep);
  const rules = sumRules(a.rules, b.rules);
  return {
    ...b,
    counts,
    samples,
    durationMs: a.durationMs + b.durationMs,
    requests: sumRequests(a.requests, b.requests),
    repairsQueued: a.repairsQueued + b.repairsQueued,
    listingDisorder: {
      count: a.listingDisorder.count + b.listingDisorder.count,
      samples: capped(a.listingDisorder.samples, b.listingDisorder.samples),
    },
    unreplicable: { byReason, samples: capped(a.unreplicable.samples, b.unreplicable.samples) },
    ...(deep ? { deep } : {}),
    ...(rules ? { rules } : {}),
  };
}

/** What a shard's runs found so far, as a bucket report (undefined before its first run). */
export function foundOf(shard: VerifyShard): BucketReport | undefined {
  return shard.found as unknown as BucketReport | undefined;
}
