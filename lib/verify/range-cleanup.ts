/**
 * Expires the per-range verify state a finished job's scope no longer uses. Each shard of a verify job
 * keeps a cursor (and an ETag ledger beside it) per key range, `.s3dr/verify/<bucket>/range-<hash>`
 * (lib/verify/cursor.ts); every job cuts its ranges anew from the listing, so once the bucket's keys
 * change, the next job's ranges differ and the last one's state would stay in the DR bucket for ever.
 * When a job finishes, the ranges of its scope that it did not use are deleted; its own stay, so the
 * next job cut the same way reads their ledgers.
 *
 * Never a range that may be in use: a range of another scope is left alone (another job over another
 * prefix may run now, between the runs of its shards, holding no lease); a range of this scope is only
 * deleted while no other job of the scope runs (its slot's `active/` pointer names this job, or one
 * with a final report) and under the range's run lease (lib/verify/run-lease.ts), the one every shard
 * run takes, so no run of that range is in progress while its objects go (docs/design.md, invariant 8).
 */
import { RESERVED_PREFIX } from '../core/config.ts';
import { ConcurrentRunError, describeError } from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import type { Clock, ObjectStore } from '../core/ports.ts';
import type { Log } from '../core/telemetry.ts';
import { type JobRecord, jobKeys } from '../jobs/model.ts';
import { JobStore } from '../jobs/store.ts';
import { cursorKey, loadCursor, type VerifyScope } from './cursor.ts';
import type { VerifyShard } from './job-state.ts';
import { withRunLease } from './run-lease.ts';

export interface RangeCleanupDeps {
  dr: ObjectStore;
  clock: Clock;
  logger: Log;
}

/** Every key under `prefix` (one ListObjectsV2 per 1,000). */
async function keysUnder(dr: ObjectStore, prefix: string, delimiter?: string) {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await dr.list({ prefix, delimiter, token, maxKeys: 1000 });
    keys.push(...page.objects.map((o) => o.key));
    prefixes.push(...page.commonPrefixes);
    token = page.nextToken;
  } while (token);
  return { keys, prefixes };
}

/** The range cursors under a source bucket's verify state whose cursor says they are of `scope`. */
async function rangesOfScope(bucket: string, scope: VerifyScope, deps: RangeCleanupDeps): Promise<string[]> {
  const { keys } = await keysUnder(deps.dr, `${RESERVED_PREFIX}verify/${bucket}/range-`, '/');
  const cursors = keys.filter((k) => k.endsWith('.json'));
  const scopes = await mapConcurrent(cursors, 8, async (key) => {
    const cursor = await loadCursor(deps.dr, key, deps.logger);
    const same = cursor?.scope.prefix === scope.prefix && cursor.scope.deep === scope.deep;
    return same ? key : undefined;
  });
  return scopes.filter((k): k is string => k !== undefined);
}

/** Whether a job other than `id` runs over the job's slot now (started and without a final report). */
async function otherJobRuns(job: JobRecord, store: JobStore): Promise<boolean> {
  const active = await store.active(jobKeys.active('verify', job.identity));
  if (!active || active.value.job === job.id) return false;
  return (await store.report(active.value.job)) === undefined;
}

/**
 * Deletes the state of the ranges of `job`'s scope that none of its `shards` used (see the module
 * comment for what is never deleted); returns how many ranges went. A range whose lease is held is
 * left for the next finishing job.
 */
export async function expireSupersededRanges(
  job: JobRecord,
  scope: VerifyScope,
  shards: readonly VerifyShard[],
  deps: RangeCleanupDeps,
): Promise<number> {
  const store = new JobStore(deps.dr);
  const buckets = [...new Set(shards.map((s) => s.bucket))];
  const inUse = new Set(shards.map((s) => cursorKey(s.bucket, scope, s.range)));
  let expired = 0;
  for (const bucket of buckets) {
    const stale = (await rangesOfScope(bucket, scope, deps)).filter((k) => !inUse.has(k));
    await mapConcurrent(stale, 4, async (cursor) => {
      const gone = await withRunLease(
        { name: 'verify', request: { cursor }, runId: `expire-${job.id}` },
        { store: deps.dr, clock: deps.clock, log: deps.logger },
        async () => {
          // Under the lease, so a job started meanwhile cannot have a run of this range in progress.
          if (await otherJobRuns(job, store)) return false;
          const { keys } = await keysUnder(deps.dr, cursor.replace(/\.json$/, '/'));
          await mapConcurrent(keys, 8, (k) => deps.dr.remove(k));
          await deps.dr.remove(cursor);
          return true;
        },
      ).catch((error: unknown) => {
        if (error instanceof ConcurrentRunError) return false;
        throw error;
      });
      if (gone) expired += 1;
    });
  }
  if (expired > 0)
    deps.logger.info('expired the verify state of key ranges the scope no longer uses', {
      action: 'verify-range-expire',
      job: job.id,
      ranges: expired,
    });
  return expired;
}

/** {@link expireSupersededRanges}, after a job's report is out: a failure is logged, never thrown. */
export async function expireSupersededRangesLogged(
  job: JobRecord,
  scope: VerifyScope,
  shards: readonly VerifyShard[],
  deps: RangeCleanupDeps,
): Promise<void> {
  try {
    await expireSupersededRanges(job, scope, shards, deps);
  } catch (error) {
    // Housekeeping: the job's report and metrics are out; the next job over the scope tries again.
    deps.logger.warn('could not expire the verify state of superseded key ranges', {
      action: 'verify-range-expire',
      job: job.id,
      error: describeError(error),
    });
  }
}
