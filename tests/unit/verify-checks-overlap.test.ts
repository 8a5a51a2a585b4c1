import { describe, expect, it } from '@jest/globals';
import type { Clock } from '../../lib/core/ports.ts';
import { type VerifyBucketSettings, verifyBucket } from '../../lib/verify/bucket.ts';
import { MemoryWorld, type StoreOp } from '../helpers/memory-store.ts';
import { silentLog } from '../helpers/telemetry.ts';

/**
 * A job's shard lists its key range flat, one page after another, so any wait between pages is wall
 * time the pass loses: "NextContinuationToken is sent when isTruncated is true … The next list requests
 * to Amazon S3 can be continued with this NextContinuationToken" (Amazon S3 API Reference,
 * ListObjectsV2, docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html; the same text in the
 * AWS SDK for Kotlin reference, ListObjectsV2Response.nextContinuationToken): a page's request needs
 * the page before it. The deferred checks (HEADs, checksums) of one batch of keys run while the listing
 * goes on.
 */
const KEYS = 2_500; // three pages of 1,000 keys per side
const key = (i: number) => `k-${String(i).padStart(5, '0')}`;
const MISSING = new Set(Array.from({ length: 100 }, (_, i) => key(i * 7))); // all on the first page

const settings: VerifyBucketSettings = {
  keyLayout: 'flat',
  deletePolicy: 'mirror',
  concurrency: 1,
  safetyMarginMs: 1000,
  graceSeconds: 0,
  prefix: '',
  repair: false,
  deep: 0,
  range: {},
};

function scene() {
  const world = new MemoryWorld();
  const source = world.bucket('source-bucket');
  const dr = world.bucket('dr-bucket');
  for (let i = 0; i < KEYS; i++) {
    source.put(key(i), `body ${i}`);
    if (!MISSING.has(key(i))) dr.put(key(i), `body ${i}`);
  }
  const clock: Clock = { now: () => new Date('2026-12-02T12:00:00Z'), remainingMs: () => 900_000 };
  return { world, deps: { source, dr, queue: undefined, clock, log: silentLog } };
}

/**
 * Holds every HEAD until `release(reason)` is called, or — the fallback that keeps a test from hanging —
 * until nothing else can move: the memory store answers in microtasks, so once a held HEAD has let every
 * other piece of work run, a macrotask later the pass is waiting for the HEADs alone.
 */
function holdHeads(world: MemoryWorld, onOp: (op: StoreOp, release: (reason: string) => void) => void) {
  let releasedBy: string | undefined;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const release = (reason: string) => {
    releasedBy ??= reason;
    open();
  };
  world.beforeOp = async (op) => {
    onOp(op, release);
    if (op.op !== 'head' || releasedBy !== undefined) return;
    setImmediate(() => release('nothing else could run'));
    await gate;
  };
  return { releasedBy: () => releasedBy };
}

describe('verify: deferred checks overlap the listing', () => {
  it('requests the next pages while the HEADs of an earlier page are outstanding, and classifies as before', async () => {
    // Prepare
    const { world, deps } = scene();
    let sourceLists = 0;
    const held = holdHeads(world, (op, release) => {
      if (op.bucket === 'source-bucket' && op.op === 'list' && ++sourceLists === 3) {
        release('the third source page was requested');
      }
    });

    // Act
    const report = await verifyBucket(deps, settings);

    // Assess: page 2 is the one prefetched with page 1; page 3 comes only from a listing that went on.
    expect(held.releasedBy()).toBe('the third source page was requested');
    expect(report.counts).toMatchObject({ ok: KEYS - MISSING.size, missing: MISSING.size, orphaned: 0 });
    expect(report.pass.complete).toBe(true);
    expect(report.requests.head).toBe(MISSING.size);
  });

  it('hands a failed item back only once the checks it started have finished', async () => {
    // Prepare: the third source page fails while the first page's HEADs are held.
    const { world, deps } = scene();
    let sourceLists = 0;
    const held = holdHeads(world, (op, release) => {
      if (op.bucket === 'source-bucket' && op.op === 'list' && ++sourceLists === 3) {
        throw new Error('the third source page failed');
      }
      // The pass saves its cursor after its items are handed back: that must not overtake a check.
      if (op.bucket === 'dr-bucket' && op.op === 'putText') release('the cursor was saved first');
    });

    // Act
    const run = verifyBucket(deps, settings);

    // Assess
    await expect(run).rejects.toThrow('the third source page failed');
    expect(sourceLists).toBeGreaterThanOrEqual(3);
    expect(held.releasedBy()).toBe('nothing else could run');
  });
});
