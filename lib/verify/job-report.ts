/**
 * A verify job's status and final report, summed over its shards (lib/verify/job-state.ts), and the
 * one place a finished job's report is written — and, for a complete pass, its metrics published.
 */

import { mapConcurrent } from '../core/map-concurrent.ts';
import type { Clock, ObjectStore } from '../core/ports.ts';
import type { Log, Telemetry } from '../core/telemetry.ts';
import * as z from '../core/zod.ts';
import { finishShardedJob } from '../jobs/lifecycle.ts';
import { type JobRecord, type JobState, type JobStatus, jobKeys, TERMINAL_STATES } from '../jobs/model.ts';
import { JobStore } from '../jobs/store.ts';
import { CLASSES, type Counts, cursorKey, zeroCounts } from './cursor.ts';
import {
  describeShard,
  emptyBucketReport,
  foundOf,
  readPlan,
  readShard,
  sumBucketReports,
  type VerifyPlan,
  type VerifyShard,
} from './job-state.ts';
import type { VerifyRequest } from './payload.ts';
import { expireSupersededRangesLogged } from './range-cleanup.ts';
import { type BucketReport, reportKey, runReport, type VerifyReport } from './report.ts';
import { logVerifyRun, publishVerifyMetrics } from './run.ts';

const requestSchema = z.object({
  sources: z.array(z.string()),
  prefix: z.string(),
  repair: z.boolean(),
  deep: z.number(),
  graceSeconds: z.number(),
});

export function requestOf(job: JobRecord): VerifyRequest {
  return requestSchema.parse(job.request);
}

async function readShards(dr: ObjectStore, id: string, count: number): Promise<VerifyShard[]> {
  const shards = await mapConcurrent(
    Array.from({ length: count }, (_, n) => n),
    16,
    (n) => readShard(dr, id, n),
  );
  return shards.flatMap((s) => (s ? [s.value] : []));
}

/** One bucket's report over its shards: their runs summed, the pass totals of each shard's cursor. */
function bucketReport(
  bucket: string,
  shards: readonly VerifyShard[],
  job: JobRecord,
  request: VerifyRequest,
  planned: boolean,
): BucketReport {
  const dr = String(job.context.dr ?? '');
  let sum = emptyBucketReport(bucket, dr, request.prefix);
  const passCounts: Counts = zeroCounts();
  let runs = 0;
  for (const s of shards) {
    runs += s.runs;
    const found = foundOf(s);
    if (!found) continue;
    sum = sumBucketReports(sum, found);
    for (const c of CLASSES) passCounts[c] += found.pass.counts[c];
  }
  const done = shards.filter((s) => s.state === 'done').length;
  const complete = planned && done === shards.length && shards.length > 0;
  const open = shards.find((s) => s.state !== 'done');
  const scope = { prefix: request.prefix, deep: request.deep };
  return {
    ...sum,
    counts: passCounts,
    pass: {
      complete,
      cursor: open ? `s3://${dr}/${cursorKey(bucket, scope, open.range)}` : null,
      progress: complete ? 1 : shards.length > 0 ? done / shards.length : 0,
      id: job.id,
      startedAt: job.createdAt,
      runs,
      counts: passCounts,
      ...(open?.range.after !== undefined ? { resumeFrom: open.range.after } : {}),
      itemsDone: done,
      itemsRemaining: shards.length - done,
    },
  };
}

function stateOf(job: JobRecord, plan: VerifyPlan | undefined, shards: readonly VerifyShard[]): JobState {
  if (job.state === 'failed') return 'failed';
  if (job.state === 'cancelled') return 'cancelled';
  if (!plan?.done) return 'planning';
  if (shards.some((s) => s.state === 'pending') || shards.length < plan.shards) return 'running';
  return shards.some((s) => s.state === 'failed') ? 'failed' : 'complete';
}

/** The live status of a verify job, with its report once it is finished. */
export async function computeStatus(job: JobRecord, store: JobStore, clock: Clock): Promise<JobStatus> {
  const plan = (await readPlan(store.dr, job.id))?.value;
  const shards = plan ? await readShards(store.dr, job.id, plan.shards) : [];
  const request = requestOf(job);
  const state = stateOf(job, plan, shards);
  const buckets = request.sources.map((b) =>
    bucketReport(
      b,
      shards.filter((s) => s.bucket === b),
      job,
      request,
      plan?.done ?? false,
    ),
  );
  const checked = shards.reduce((n, s) => n + s.checked, 0);
  const runs = shards.reduce((n, s) => n + s.runs, 0);
  const count = (st: VerifyShard['state']) => shards.filter((s) => s.state === st).length;
  const failedShards = shards
    .filter((s) => s.state === 'failed')
    .map((s) => ({ shard: s.shard, error: s.error ?? `${describeShard(s)} failed` }));
  const seconds = Math.max(0.001, (clock.now().getTime() - Date.parse(job.createdAt)) / 1000);
  const rate = checked / seconds;
  const planned = plan?.objects ?? 0;
  const etaSeconds =
    state === 'complete'
      ? 0
      : plan?.done && rate > 0
        ? Math.max(0, Math.round((planned - checked) / rate))
        : null;
  const finished = shards.length - shards.filter((s) => s.state === 'pending').length;
  // A cancelled job's report waits for its shards still running: it covers what they did.
  const settled = job.state === 'failed' || !plan || finished >= plan.shards;
  const report =
    TERMINAL_STATES.includes(state) && settled
      ? runReport(
          {
            runId: job.id,
            startedAt: job.createdAt,
            repair: request.repair,
            deep: request.deep,
            graceSeconds: request.graceSeconds,
            prefix: request.prefix,
            reportKey: jobKeys.report(job.id),
          },
          buckets,
          Math.round(seconds * 1000),
        )
      : undefined;
  const pass = zeroCounts();
  for (const b of buckets) for (const c of CLASSES) pass[c] += b.counts[c];
  const repairsQueued = buckets.reduce((n, b) => n + b.repairsQueued, 0);
  const done = count('done') + count('failed') + count('cancelled');
  const more = plan?.done ? '' : '+';
  const counted = `ok ${pass.ok}, missing ${pass.missing}, mismatched ${pass.mismatched}, orphaned ${pass.orphaned}, pending ${pass.pending}, unreplicable ${pass.unreplicable}`;
  const summary = `verify job ${job.id} ${state}: shards ${done}/${plan?.shards ?? 0}${more}${failedShards.length ? `, ${failedShards.length} FAILED` : ''}, ${checked} key(s) checked (${counted}; ${repairsQueued} repair(s) queued), ${rate.toFixed(0)} keys/s${etaSeconds !== null && state === 'running' ? `, ETA ${etaSeconds} s` : ''}`;
  return {
    job: job.id,
    kind: 'verify',
    state,
    dryRun: job.dryRun,
    createdAt: job.createdAt,
    runs,
    planning: { done: plan?.done ?? false, shards: plan?.shards ?? 0 },
    shards: {
      planned: plan?.shards ?? 0,
      done: count('done'),
      failed: count('failed'),
      cancelled: count('cancelled'),
    },
    progress: { objects: checked, bytes: 0, objectsPlanned: planned, bytesPlanned: 0 },
    counts: { ...pass, repairsQueued },
    rate: Number(rate.toFixed(1)),
    etaSeconds,
    failedShards,
    ...(job.error ? { error: job.error } : {}),
    ...(report ? { report } : {}),
    summary,
  };
}

export type FinishDeps = { dr: ObjectStore; clock: Clock; logger: Log } & Partial<
  Pick<Telemetry, 'metrics' | 'outcomes'>
>;

/**
 * Writes the job's final report once nothing of it runs any more (finishShardedJob, lib/jobs/lifecycle.ts);
 * the writer of a complete pass also writes it under `.s3dr/reports/verify/` and publishes the pass
 * metrics — once per pass, the heartbeat of the "verifier silent" alarm.
 */
export async function finishIfDone(id: string, deps: FinishDeps): Promise<void> {
  const store = new JobStore(deps.dr);
  const finished = await finishShardedJob(
    id,
    store,
    async () => (await readPlan(deps.dr, id))?.value,
    (job) => computeStatus(job, store, deps.clock),
    deps.logger,
  );
  if (!finished) return;
  const { job, status } = finished;
  if (status.state === 'complete') {
    const report = status.report as VerifyReport;
    const key = reportKey(new Date(job.createdAt), id.slice(-12));
    await deps.dr.putText(key, `${JSON.stringify({ ...report, reportKey: key }, null, 2)}\n`);
    if (deps.metrics && deps.outcomes) {
      publishVerifyMetrics(report, { metrics: deps.metrics, outcomes: deps.outcomes });
      logVerifyRun(report, requestOf(job), deps.logger);
    }
  }
  // Last, once per job: the ranges its scope no longer uses (lib/verify/range-cleanup.ts).
  const request = requestOf(job);
  const shards = await readShards(deps.dr, id, status.planning?.shards ?? 0);
  await expireSupersededRangesLogged(job, { prefix: request.prefix, deep: request.deep }, shards, deps);
}
