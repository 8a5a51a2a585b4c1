/**
 * How the verifier cuts a key space into shards that can be listed in parallel, with bounded memory and
 * without knowing the bucket's size.
 *
 * A `node` is a prefix listed with `Delimiter: '/'`: it classifies the objects directly under it and
 * discovers its sub-prefixes (the union of both sides', so DR-only prefixes are covered). When it is done
 * it turns them into more work: one `prefix` shard each (a flat listing of everything under it), child
 * `node`s when there are so few that the pass would not be parallel otherwise, or — when there are more
 * than a budget — contiguous `range` shards, so a bucket with a million tiny prefixes still costs about
 * one LIST per 1,000 keys. The prefixes a node has seen are thinned as they stream by (every other one is
 * dropped whenever the budget is exceeded), so memory stays bounded by the budget, not by the bucket.
 *
 * Work items are plain JSON: the cursor stores the unfinished ones, each with its resume position.
 */

import { commonPrefix, compareKeys, keyBefore } from '../core/key-order.ts';
import * as z from '../core/zod.ts';
import { ledgerPositionSchema } from './ledger.ts';

export const DELIMITER = '/';

const collectorStateSchema = z.object({
  kept: z.array(z.string()),
  seen: z.number().check(z.int(), z.nonnegative()),
  stride: z.number().check(z.int(), z.positive()),
});
export type CollectorState = z.infer<typeof collectorStateSchema>;

export const workItemSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('node'),
    prefix: z.string(),
    depth: z.number().check(z.int(), z.nonnegative()),
    after: z.optional(z.string()),
    collector: z.optional(collectorStateSchema),
    /** Where the interrupted item stands in the ETag ledgers (verify-ledger.ts). */
    ledger: z.optional(ledgerPositionSchema),
  }),
  z.object({
    kind: z.literal('prefix'),
    prefix: z.string(),
    after: z.optional(z.string()),
    ledger: z.optional(ledgerPositionSchema),
  }),
  z.object({
    kind: z.literal('range'),
    /** The node whose sub-prefixes this range covers (its direct objects belong to the node). */
    within: z.string(),
    /** Inclusive lower bound; undefined = from the start of `within`. */
    from: z.optional(z.string()),
    /** Exclusive upper bound; undefined = to the end of `within`. */
    until: z.optional(z.string()),
    after: z.optional(z.string()),
    ledger: z.optional(ledgerPositionSchema),
  }),
]);
export type WorkItem = z.infer<typeof workItemSchema>;
export type NodeItem = Extract<WorkItem, { kind: 'node' }>;

export interface ShardLimits {
  /** Most sub-prefixes a node turns into shards of their own; beyond it, into this many ranges. */
  prefixBudget: number;
  /** A node with fewer sub-prefixes than this has them listed as nodes too (more parallelism). */
  expandBelow: number;
  /** Deepest level a node is expanded to (0 = the scope prefix). */
  maxDepth: number;
  /** Most nodes in one pass: bounds the LISTs spent on discovery. */
  maxNodes: number;
}

/** Limits for a given listing concurrency: enough shards to keep every worker busy, few enough to be cheap. */
export function shardLimits(concurrency: number): ShardLimits {
  return {
    prefixBudget: Math.max(1000, 4 * concurrency),
    expandBelow: 2 * concurrency,
    maxDepth: 3,
    maxNodes: 4 * concurrency,
  };
}

/**
 * Collects the sub-prefixes of a node in order, keeping at most `budget`: once over it, every other kept
 * prefix is dropped and only every `stride`-th one is kept from then on. Exact while `stride` is 1.
 */
export class PrefixCollector {
  private kept: string[];
  private seen: number;
  private stride: number;
  private readonly budget: number;

  constructor(budget: number, state?: CollectorState) {
    this.budget = budget;
    this.kept = state ? [...state.kept] : [];
    this.seen = state?.seen ?? 0;
    this.stride = state?.stride ?? 1;
  }

  add(prefix: string): void {
    if (this.seen % this.stride === 0) {
      this.kept.push(prefix);
      if (this.kept.length > this.budget) {
        this.kept = this.kept.filter((_, i) => i % 2 === 0);
        this.stride *= 2;
      }
    }
    this.seen += 1;
  }

  /** True when prefixes were dropped, so the kept ones are only boundaries. */
  get thinned(): boolean {
    return this.stride > 1;
  }

  get prefixes(): readonly string[] {
    return this.kept;
  }

  state(): CollectorState {
    return { kept: [...this.kept], seen: this.seen, stride: this.stride };
  }
}

/**
 * The work a finished node hands on. `reserveNodes(n)` asks the pass for `n` more nodes and says whether
 * the budget allows them.
 */
export function childItems(
  node: NodeItem,
  collector: PrefixCollector,
  limits: ShardLimits,
  reserveNodes: (count: number) => boolean,
): WorkItem[] {
  const prefixes = collector.prefixes;
  if (!collector.thinned) {
    const expand =
      prefixes.length > 0 &&
      prefixes.length < limits.expandBelow &&
      node.depth < limits.maxDepth &&
      reserveNodes(prefixes.length);
    return prefixes.map((prefix) =>
      expand ? { kind: 'node', prefix, depth: node.depth + 1 } : { kind: 'prefix', prefix },
    );
  }
  // Contiguous ranges over all of the node's sub-prefixes, including any created since they were seen.
  const bounds = prefixes.slice(1);
  return [undefined, ...bounds].map((from, i) => {
    const until = bounds[i];
    return {
      kind: 'range',
      within: node.prefix,
      ...(from === undefined ? {} : { from }),
      ...(until === undefined ? {} : { until }),
    };
  });
}

/** What to list for a work item, and which listed keys belong to it. */
export interface ListingPlan {
  prefix: string;
  delimiter?: string;
  startAfter?: string;
  /** `take` it, `skip` it (another item owns it), or `stop`: the item's range is done. */
  accept(key: string): 'take' | 'skip' | 'stop';
  /** The first key past the item (exclusive bound), when the listing does not end there by itself. */
  endBefore?: string;
}

const takeAll = () => 'take' as const;

/** The listing of one work item (in source key space). */
export function listingPlan(item: WorkItem): ListingPlan {
  switch (item.kind) {
    case 'node':
      return { prefix: item.prefix, delimiter: DELIMITER, startAfter: item.after, accept: takeAll };
    case 'prefix':
      return { prefix: item.prefix, startAfter: item.after, accept: takeAll };
    case 'range': {
      const { within, from, until } = item;
      const prefix = from !== undefined && until !== undefined ? commonPrefix(from, until) : within;
      const startAfter = item.after ?? (from === undefined ? undefined : keyBefore(from));
      return {
        prefix: prefix.length >= within.length ? prefix : within,
        startAfter,
        ...(until === undefined ? {} : { endBefore: until }),
        accept(key) {
          if (until !== undefined && compareKeys(key, until) >= 0) return 'stop';
          if (from !== undefined && compareKeys(key, from) < 0) return 'skip';
          // Objects directly under `within` were classified by its node.
          return key.indexOf(DELIMITER, within.length) < 0 ? 'skip' : 'take';
        },
      };
    }
  }
}

/** Where an item's remaining keys start: orders the work list and the cursor. */
export function itemStart(item: WorkItem): string {
  if (item.after !== undefined) return item.after;
  return item.kind === 'range' ? (item.from ?? item.within) : item.prefix;
}

/** Sorts work items by where they start, in S3's order. */
export function sortWork(items: WorkItem[]): WorkItem[] {
  return items.sort((a, b) => compareKeys(itemStart(a), itemStart(b)));
}
