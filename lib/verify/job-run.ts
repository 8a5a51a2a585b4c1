/**
 * How the job worker runs a verify job (docs/design.md, invariant 8): planning steps cut each source
 * bucket's key space into shards of about `shardKeys` source keys (from the source listing, read on
 * from where the last step stopped), and each shard message verifies one key range with
 * {@link verifyBucket} — bounded to the range, with its own cursor and ETag ledger — for as long as the
 * invocation allows, then re-queues itself. Shards run in parallel, as many as the job worker's
 * maximumConcurrency lets in.
 *
 * A shard run holds the run lease of its range's cursor (lib/verify/run-lease.ts), not of the request:
 * two deliveries of one shard, or two jobs whose shards cover the same range of the same scope, never
 * advance one cursor at once — the second is `busy` and comes back later. The run number in each shard
 * message makes a redelivery of a recorded run a no-op, and the position lives in the cursor, so a kill
 * resumes from the last run's stop and a repeat repairs nothing twice (a repair is a hint replicate
 * checks against both buckets anyway: invariant 1).
 */
import { ConcurrentRunError, describeError, RejectedTaskError } from '../core/errors.ts';
import { mapConcurrent } from '../core/map-concurrent.ts';
import { failActiveJob } from '../jobs/lifecycle.ts';
import type { JobMessage } from '../jobs/model.ts';
import { readShardOfJob } from '../jobs/shard-reader.ts';
import { JobStore } from '../jobs/store.ts';
import { verifyBucket } from './bucket.ts';
import { CLASSES, cursorKey } from './cursor.ts';
import type { VerifyJobDeps } from './job.ts';
import { finishIfDone, requestOf } from './job-report.ts';
import {
  describeShard,
  foundOf,
  readPlan,
  readShard,
  type Stored,
  sumBucketReports,
  type VerifyPlan,
  type VerifyShard,
  writePlan,
  writeShard,
} from './job-state.ts';
import { listEntries } from './listing.ts';
import type { VerifyRequest } from './payload.ts';
import { bucketSettings } from './run.ts';
import { withRunLease } from './run-lease.ts';

/** Shard messages a planning step sends at most; the next step goes on from there. */
const SHARDS_PER_STEP = 500;

type ShardMessage = Extract<JobMessage, { kind: 'shard' }>;

/**
 * One planning step: cuts shards from the source listings where the last step stopped, records them,
 * queues them, records the step, and queues the next one — until every bucket is cut. The step number
 * makes a redelivered step a no-op; a step that died half-way is redone whole, and the shards it had
 * recorded are kept as they are (If-None-Match).
 */
export async function planStep(id: string, step: number, deps: VerifyJobDeps): Promise<'done'> {
  const store = new JobStore(deps.dr);
  const job = await store.job(id);
  if (job?.value.state !== 'active') {
    if (job) await finishIfDone(id, deps);
    return 'done';
  }
  const previous = await readPlan(deps.dr, id);
  if ((previous?.value.step ?? 0) !== step || previous?.value.done) return 'done';
  const { plan, cut } = await cutShards(requestOf(job.value), previous?.value, step, deps);
  await mapConcurrent(cut, 16, (s) => writeShard(deps.dr, id, s, { ifNoneMatch: '*' }));
  await deps.jobQueue.send(cut.map((s) => ({ v: 1, kind: 'shard', job: id, shard: s.shard, run: 0 })));
  const condition = previous ? { ifMatch: previous.etag } : { ifNoneMatch: '*' as const };
  if (!(await writePlan(deps.dr, id, plan, condition))) return 'done'; // a duplicate step got there first
  if (!plan.done) await deps.jobQueue.send([{ v: 1, kind: 'plan', job: id, step: step + 1 }]);
  else await finishIfDone(id, deps);
  return 'done';
}

/**
 * Cuts shards of `shardKeys` listed source keys. A bucket's last shard is open-ended, and its first
 * starts at the scope's start, so keys only DR holds (orphans) fall in a shard too; a bucket with no
 * key in scope is one shard.
 */
async function cutShards(
  request: VerifyRequest,
  previous: VerifyPlan | undefined,
  step: number,
  deps: VerifyJobDeps,
): Promise<{ plan: VerifyPlan; cut: VerifyShard[] }> {
  const plan: VerifyPlan = {
    v: 1,
    step: step + 1,
    bucket: previous?.bucket ?? 0,
    ...(previous?.after === undefined ? {} : { after: previous.after }),
    shards: previous?.shards ?? 0,
    objects: previous?.objects ?? 0,
    done: false,
  };
  const cut: VerifyShard[] = [];
  const now = deps.clock.now().toISOString();
  const cutThrough = (bucket: string, through: string | undefined, objects: number) => {
    const range = {
      ...(plan.after === undefined ? {} : { after: plan.after }),
      ...(through === undefined ? {} : { through }),
    };
    cut.push({
      v: 1,
      shard: plan.shards,
      bucket,
      range,
      objects,
      state: 'pending',
      runs: 0,
      queued: 0,
      checked: 0,
      updatedAt: now,
    });
    plan.shards += 1;
    plan.objects += objects;
    if (through === undefined) delete plan.after;
    else plan.after = through;
  };
  const stopSoon = () =>
    deps.clock.remainingMs() < deps.settings.safetyMarginMs * 2 || cut.length >= SHARDS_PER_STEP;
  for (; plan.bucket < request.sources.length; plan.bucket++) {
    const bucket = request.sources[plan.bucket] as string;
    const source = deps.sourceStore(bucket);
    if (!source) throw new RejectedTaskError(`bucket ${bucket} is not a configured source bucket`);
    let count = 0;
    const listing = listEntries(source, {
      prefix: request.prefix,
      startAfter: plan.after,
      map: (k) => k,
      onRequest: () => undefined,
    });
    for await (const page of listing) {
      for (const entry of page) {
        count += 1;
        if (count < deps.shardKeys) continue;
        cutThrough(bucket, entry.key, count);
        count = 0;
        // Only at a cut: the next step lists on from the last key cut through.
        if (stopSoon()) return { plan, cut };
      }
    }
    cutThrough(bucket, undefined, count);
    if (stopSoon() && plan.bucket + 1 < request.sources.length) {
      plan.bucket += 1;
      return { plan, cut };
    }
  }
  plan.done = true;
  return { plan, cut };
}

/**
 * Runs one shard message: a no-op for a finished shard or a run already recorded (unless the next
 * run's message was never sent), `busy` while the run before it is unrecorded or another run holds the
 * range's cursor; otherwise one time-boxed run of the range, recorded, then the shard's next run queued
 * or — the range's pass complete — the shard marked done.
 */
export async function runShard(
  message: ShardMessage,
  runId: string,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  const { job: id, shard: n } = message;
  const run = message.run ?? 0;
  const store = new JobStore(deps.dr);
  const read = await readShardOfJob(id, n, {
    store,
    readShard: (job, shard) => readShard(deps.dr, job, shard),
    logger: deps.logger,
  });
  if (!read) return 'done';
  const { job, shard: stored } = read;
  const shard = stored.value;
  if (shard.state !== 'pending') return 'done';
  if (run < shard.runs) return resendNext(id, stored, run, deps);
  if (run > shard.runs) return 'busy'; // the run before it is not recorded yet

  const request = requestOf(job.value);
  const cursor = cursorKey(shard.bucket, { prefix: request.prefix, deep: request.deep }, shard.range);
  let recorded: Stored<VerifyShard> | 'finished' | undefined;
  try {
    recorded = await withRunLease(
      { name: 'verify', request: { cursor }, runId },
      { store: deps.dr, clock: deps.clock, log: deps.logger },
      () => verifyRange(id, n, run, request, deps),
    );
  } catch (error) {
    if (error instanceof ConcurrentRunError) return 'busy';
    throw error;
  }
  if (!recorded || recorded === 'finished') return 'done'; // recorded by another delivery, or cancelled
  // After the lease is released, so the next run's message never meets it.
  if (recorded.value.state === 'done') {
    await store.markDone(id, n);
    await finishIfDone(id, deps);
  } else {
    await queueNext(id, recorded, deps);
  }
  return 'done';
}

/** One run of a shard's range under its lease; records it (If-Match) and returns what was recorded. */
async function verifyRange(
  id: string,
  n: number,
  run: number,
  request: VerifyRequest,
  deps: VerifyJobDeps,
): Promise<Stored<VerifyShard> | 'finished' | undefined> {
  const latest = await readShard(deps.dr, id, n);
  if (latest?.value.state !== 'pending' || latest.value.runs !== run) return undefined;
  // Under the lease: a cancel never finishes a shard while one of its runs is still to be recorded.
  const job = await new JobStore(deps.dr).job(id);
  if (job?.value.state !== 'active') {
    await finishShard(id, latest, 'cancelled', deps);
    return 'finished';
  }
  const shard = latest.value;
  const source = deps.sourceStore(shard.bucket);
  if (!source) throw new RejectedTaskError(`bucket ${shard.bucket} is not a configured source bucket`);
  const report = await verifyBucket(
    {
      source,
      dr: deps.dr,
      queue: request.repair ? deps.queue() : undefined,
      clock: deps.clock,
      log: deps.logger,
    },
    { ...bucketSettings(request, deps.settings), range: shard.range },
  );
  const checked = CLASSES.reduce((sum, c) => sum + report.counts[c], 0);
  // Job progress, as restore shards report theirs: the "job stalled" alarm watches it.
  deps.metrics.addMetric('JobObjectsExamined', 'Count', checked);
  const prior = foundOf(shard);
  const next: VerifyShard = {
    ...shard,
    state: report.pass.complete ? 'done' : 'pending',
    runs: run + 1,
    checked: shard.checked + checked,
    found: (prior ? sumBucketReports(prior, report) : report) as unknown as Record<string, unknown>,
    updatedAt: deps.clock.now().toISOString(),
  };
  const ok = await writeShard(deps.dr, id, next, { ifMatch: latest.etag });
  // Read back for its ETag: the next step writes it conditionally.
  return ok ? readShard(deps.dr, id, n) : undefined;
}

/** Queues the shard's next run unless the job was cancelled meanwhile (then the shard finishes). */
async function queueNext(
  id: string,
  stored: Stored<VerifyShard>,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  const job = await new JobStore(deps.dr).job(id);
  if (job?.value.state !== 'active') return finishShard(id, stored, 'cancelled', deps);
  const { shard, runs } = stored.value;
  await deps.jobQueue.send([{ v: 1, kind: 'shard', job: id, shard, run: runs }]);
  if (stored.value.queued < runs) {
    // Lost to a concurrent write, it is only re-sent once more by a redelivery: a duplicate is a no-op.
    await writeShard(deps.dr, id, { ...stored.value, queued: runs }, { ifMatch: stored.etag });
  }
  return 'done';
}

/**
 * A redelivered message of a run already recorded. The worker that recorded the last run may have
 * died before it queued the next one, which then would never come: a redelivery of that run queues it,
 * unless it is known to be sent. Any other is a no-op, so duplicates do not multiply.
 */
async function resendNext(
  id: string,
  stored: Stored<VerifyShard>,
  run: number,
  deps: VerifyJobDeps,
): Promise<'done' | 'busy'> {
  const { runs, queued } = stored.value;
  if (run === runs - 1 && queued < runs) return queueNext(id, stored, deps);
  return 'done';
}

/**
 * Ends a shard that will not run again (its job was cancelled), keeping what its runs found for the
 * report, and writes the report if it was the last. `busy` when a run recorded meanwhile: the
 * redelivery sees that run.
 */
async function finishShard(
  id: string,
  stored: Stored<VerifyShard>,
  state: 'cancelled' | 'failed',
  deps: VerifyJobDeps,
  error?: string,
): Promise<'done' | 'busy'> {
  const next: VerifyShard = {
    ...stored.value,
    state,
    ...(error === undefined ? {} : { error }),
    updatedAt: deps.clock.now().toISOString(),
  };
  if (!(await writeShard(deps.dr, id, next, { ifMatch: stored.etag }))) return 'busy';
  await new JobStore(deps.dr).markDone(id, stored.value.shard);
  await finishIfDone(id, deps);
  return 'done';
}

/**
 * The try that sends a message to the job DLQ records why, so the job reports it: a planning step
 * fails the job; a shard fails alone, named in the job's failed shards, and the job ends `failed` once
 * the others are finished.
 */
export async function recordLastFailure(
  message: Extract<JobMessage, { kind: 'plan' | 'shard' }>,
  error: unknown,
  deps: VerifyJobDeps,
): Promise<void> {
  const { name, message: text } = describeError(error);
  const reason = `${name}: ${text} (after ${deps.maxReceiveCount} tries; the message is in the job DLQ)`;
  // jobMessages (lib/jobs/batch.ts) has logged the move to the DLQ; this records it on the job.
  if (message.kind === 'plan') {
    await failActiveJob(new JobStore(deps.dr), message.job, `planning failed: ${reason}`, deps.clock.now());
    await finishIfDone(message.job, deps);
    return;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const stored = await readShard(deps.dr, message.job, message.shard);
    if (stored?.value.state !== 'pending') return;
    const why = `${describeShard(stored.value)} failed: ${reason}`;
    if ((await finishShard(message.job, stored, 'failed', deps, why)) === 'done') return;
  }
}
