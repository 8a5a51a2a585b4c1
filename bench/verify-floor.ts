/**
 * The floor under `npm run bench:verify`: what listing both buckets costs with the AWS SDK alone, the
 * way the verifier cuts the key space, and nothing else. The project makes every S3 request through
 * the AWS SDK v3 (no hand-written S3 client) and verifies by listings (docs/design.md, invariant 5), so
 * no verifier built on it can finish a pass faster than these listings do: verifier ÷ floor is what is left
 * to cut in s3-dr's own code, and floor ÷ rclone check tells whether a target is reachable at all.
 *
 * Same work as a verifier pass's listings: the same work items (lib/verify/shards.ts: a delimited
 * listing of the scope, its sub-prefixes expanded or listed flat, ranges past the prefix budget), the
 * same `concurrency` items at once, both buckets of an item listed side by side, the same request
 * (ListObjectsV2, MaxKeys 1,000, EncodingType=url), the same client (lib/aws/clients.ts). Left out,
 * because they are the verifier's own: the merge-join, classification, HEADs, ledgers, the cursor and
 * the report. Keys are only counted.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { decodeListedKey } from '../lib/aws/s3-object-store.ts';
import { RESERVED_PREFIX } from '../lib/core/config.ts';
import { compareKeys } from '../lib/core/key-order.ts';
import { WorkQueue } from '../lib/core/work-queue.ts';
import { PAGE_SIZE } from '../lib/verify/listing.ts';
import {
  childItems,
  type ListingPlan,
  listingPlan,
  PrefixCollector,
  type ShardLimits,
  shardLimits,
  sortWork,
  type WorkItem,
} from '../lib/verify/shards.ts';

export interface FloorTarget {
  /** The source bucket's region's client, and the DR bucket's (the same one when the regions are). */
  client: S3Client;
  drClient: S3Client;
  source: string;
  dr: string;
  /** Where the source's keys live in DR (docs/configuration.md, S3DR_KEY_LAYOUT): '' for `flat`. */
  drPrefix: string;
  /** Work items listed at once: the verifier's S3DR_VERIFY_CONCURRENCY. */
  concurrency: number;
  /** The scope (S3DR_VERIFY's `prefix`): '' for the whole bucket. */
  prefix?: string;
}

export interface FloorCounts {
  sourceKeys: number;
  drKeys: number;
  /** ListObjectsV2 requests sent, both buckets. */
  lists: number;
  /** Work items listed (each on both sides). */
  items: number;
}

/** One side of one work item: every page in turn; keys counted, common prefixes (a node's) collected. */
async function listSide(
  target: FloorTarget,
  side: 'source' | 'dr',
  plan: ListingPlan,
  prefixes: Set<string> | undefined,
  counts: FloorCounts,
): Promise<number> {
  const into = side === 'dr' ? target.drPrefix : '';
  const bucket = side === 'dr' ? target.dr : target.source;
  let token: string | undefined;
  let keys = 0;
  do {
    counts.lists += 1;
    const r = await (side === 'dr' ? target.drClient : target.client).send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: into + plan.prefix,
        Delimiter: plan.delimiter,
        StartAfter: token || plan.startAfter === undefined ? undefined : into + plan.startAfter,
        ContinuationToken: token,
        MaxKeys: PAGE_SIZE,
        EncodingType: 'url',
      }),
    );
    const contents = r.Contents ?? [];
    // Keys stay encoded: only a range (not met in the bench's layouts) looks at them, to end on time.
    keys += plan.endBefore === undefined ? contents.length : countInRange(plan, contents);
    for (const p of r.CommonPrefixes ?? []) {
      const prefix = decodeListedKey(p.Prefix ?? '').slice(into.length);
      if (!prefix.startsWith(RESERVED_PREFIX)) prefixes?.add(prefix);
    }
    const last = contents.at(-1)?.Key;
    const past =
      plan.endBefore !== undefined &&
      last !== undefined &&
      compareKeys(decodeListedKey(last), into + plan.endBefore) >= 0;
    token = r.IsTruncated && !past ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

function countInRange(plan: ListingPlan, contents: { Key?: string }[]): number {
  let n = 0;
  for (const o of contents) if (plan.accept(decodeListedKey(o.Key ?? '')) === 'take') n += 1;
  return n;
}

/** Lists one item on both sides at once; a node hands on its children as the verifier's would. */
async function listItem(
  target: FloorTarget,
  item: WorkItem,
  limits: ShardLimits,
  reserveNodes: (count: number) => boolean,
  counts: FloorCounts,
): Promise<WorkItem[]> {
  const plan = listingPlan(item);
  const prefixes = item.kind === 'node' ? new Set<string>() : undefined;
  const [s, d] = await Promise.all([
    listSide(target, 'source', plan, prefixes, counts),
    listSide(target, 'dr', plan, prefixes, counts),
  ]);
  counts.sourceKeys += s;
  counts.drKeys += d;
  counts.items += 1;
  if (item.kind !== 'node' || !prefixes) return [];
  const collector = new PrefixCollector(limits.prefixBudget);
  for (const p of [...prefixes].sort(compareKeys)) collector.add(p);
  return childItems(item, collector, limits, reserveNodes);
}

/** Lists the whole scope of both buckets, `concurrency` work items at a time, in key order. */
export async function floorListing(target: FloorTarget): Promise<FloorCounts> {
  const limits = shardLimits(target.concurrency);
  const counts: FloorCounts = { sourceKeys: 0, drKeys: 0, lists: 0, items: 0 };
  let nodes = 1;
  const reserveNodes = (count: number) => {
    if (nodes + count > limits.maxNodes) return false;
    nodes += count;
    return true;
  };
  const queue = new WorkQueue<WorkItem>([{ kind: 'node', prefix: target.prefix ?? '', depth: 0 }], sortWork);
  await queue.drain(target.concurrency, async (item) =>
    queue.push(...(await listItem(target, item, limits, reserveNodes, counts))),
  );
  return counts;
}
