/**
 * `npm run bench:restore`: restore throughput on the local runtime, through the real restore handler.
 *
 *  1. small — N objects (default 10,000 × 1 KiB) written into the source bucket, replicated, deleted at
 *     the source; then timed: the dry run (planning only), a real restore into a second, allowed bucket
 *     (nothing else running), and a real restore back into the source bucket (the runbook's case:
 *     the pipeline is live and must recognise every restored write without copying it again).
 *  2. large — one 1 GiB object uploaded in 8 MiB parts (the emulator refuses single PUTs above ~11 MiB),
 *     replicated, deleted at the source and restored with the multipart copy path: 128 UploadPartCopy
 *     with the object's own part boundaries.
 *
 * Prints objects/s and MiB/s and writes bench/results/restore.json.
 * The small restore runs twice into another bucket: once as one synchronous invocation of restoreObjects
 * (the restore before jobs) and once as a job (what `sls invoke -f restore` starts now), in the same run.
 *
 * With BENCH_S3_LATENCY_MS, both run again with every S3 request of theirs held that long by the emulator
 * (Emulator.setS3LatencyMs): the emulator answers in microseconds, so at latency 0 both are CPU-bound on
 * this machine, while real S3 answers a small request in tens of milliseconds (AWS whitepaper "Best
 * Practices Design Patterns: Optimizing Amazon S3 Performance", "Timeouts and Retries for
 * Latency-Sensitive Applications"), where one invocation is bound by its concurrency and a job
 * multiplies the requests in flight by its workers.
 *
 * Env: BENCH_N, BENCH_BYTES, BENCH_LARGE_MIB (0 skips it), BENCH_PART_MIB, BENCH_SHARD_KEYS,
 * BENCH_S3_LATENCY_MS, BENCH_JOB_WORKERS, BENCH_JOB_WORKER_PROCESSES (see jobWorkerOptions),
 * S3DR_RESTORE_CONCURRENCY.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mapConcurrent } from '../lib/core/map-concurrent.ts';
import { systemClock } from '../lib/core/ports.ts';
import type { JobStatus } from '../lib/jobs/model.ts';
import type { RestoreReport } from '../lib/restore/objects.ts';
import { invokeHandler, lambdaContext } from '../local/lambda-context.ts';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.ts';
import { loadLocalSettings } from '../local/settings.ts';
import { writeObjects } from './write-objects.ts';

const MiB = 1024 * 1024;
const TARGET = 'bench-restore-target';

export interface RestoreRun {
  what: string;
  objects: number;
  bytes: number;
  seconds: number;
  objectsPerSecond: number;
  mibPerSecond: number;
  /** S3 requests the restore made per object, by operation (from the emulator's counts). */
  requestsPerObject: Record<string, number>;
  /** The modelled latency of each S3 request during this run (0: the emulator's own, microseconds). */
  s3LatencyMs: number;
  /**
   * CPU time per object (ms) of this process and of the emulator's: every CPU second the run cost, unless
   * job workers ran in processes of their own (`settings.jobWorkerProcesses`), whose time is not in it.
   */
  cpuMsPerObject: { runtime: number; emulator: number };
}

export interface RestoreBenchResult {
  machine: { cpus: number; node: string };
  settings: {
    restoreConcurrency: number;
    partConcurrency: number;
    partSizeMiB: number;
    jobShardKeys: number;
    jobWorkers: number;
    /** Job workers in processes of their own (as Lambda runs each in its own environment), or in this one. */
    jobWorkerProcesses: boolean;
    s3LatencyMs: number;
  };
  small: {
    objects: number;
    bytesEach: number;
    runs: RestoreRun[];
    replicationOfRestoredWrites: string;
    /** Peak RSS of this process, which hosts every function locally (and the SQS pollers), MiB. */
    peakRssMiB?: number;
  };
  large?: { bytes: number; parts: number; runs: RestoreRun[] };
}

/** One way of running a restore to its end: through a job, or as one synchronous invocation. */
type Restore = (payload: Record<string, unknown>) => Promise<RestoreReport>;

async function timed(
  rt: LocalRuntime,
  restore: Restore,
  what: string,
  payload: Record<string, unknown>,
  s3LatencyMs = 0,
): Promise<RestoreRun> {
  await rt.emulator.setS3LatencyMs(s3LatencyMs);
  const before = await rt.emulator.requestCounts();
  const cpuBefore = { runtime: process.cpuUsage(), emulator: await rt.emulator.cpuUsage() };
  const started = performance.now();
  const report = await restore(payload);
  const seconds = (performance.now() - started) / 1000;
  await rt.emulator.setS3LatencyMs(0);
  const cpuMs = (u: NodeJS.CpuUsage, since: NodeJS.CpuUsage) =>
    (u.user - since.user + u.system - since.system) / 1000;
  const runtimeCpuMs = cpuMs(process.cpuUsage(), cpuBefore.runtime);
  const emulatorCpuMs = cpuMs(await rt.emulator.cpuUsage(), cpuBefore.emulator);
  const after = await rt.emulator.requestCounts();
  if (!report.complete || (report.results?.failed.objects ?? 0) > 0) {
    throw new Error(`${what}: ${report.summary}`);
  }
  // A dry run, or a rerun that finds everything identical, is measured in keys examined.
  const restored = report.results?.restored;
  const objects = restored?.objects ? restored.objects : report.examined;
  const bytes = restored?.objects
    ? restored.bytes
    : report.plan.restore.bytes + report.plan['skip-identical'].bytes;
  const requestsPerObject: Record<string, number> = {};
  for (const [op, n] of Object.entries(after)) {
    const delta = n - (before[op] ?? 0);
    if (delta > 0 && !op.startsWith('SQS:'))
      requestsPerObject[op] = Number((delta / Math.max(1, objects)).toFixed(3));
  }
  const run = {
    what,
    objects,
    bytes,
    seconds: Number(seconds.toFixed(3)),
    objectsPerSecond: Number((objects / seconds).toFixed(3)),
    mibPerSecond: Number((bytes / MiB / seconds).toFixed(2)),
    requestsPerObject,
    s3LatencyMs,
    cpuMsPerObject: {
      runtime: Number((runtimeCpuMs / Math.max(1, objects)).toFixed(3)),
      emulator: Number((emulatorCpuMs / Math.max(1, objects)).toFixed(3)),
    },
  };
  process.stdout.write(
    `  ${what.padEnd(62)} ${String(objects).padStart(6)} objects ${(bytes / MiB).toFixed(1).padStart(8)} MiB in ${seconds.toFixed(2).padStart(6)} s → ${(objects < 100 ? run.objectsPerSecond.toFixed(2) : run.objectsPerSecond.toFixed(0)).padStart(5)} objects/s, ${run.mibPerSecond.toFixed(1).padStart(6)} MiB/s\n`,
  );
  return run;
}

async function deleteAll(s3: S3Client, bucket: string, keys: string[]): Promise<void> {
  const chunks = Array.from({ length: Math.ceil(keys.length / 1000) }, (_, i) =>
    keys.slice(i * 1000, i * 1000 + 1000),
  );
  for (const chunk of chunks) {
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk.map((Key) => ({ Key })) } }),
    );
  }
}

/** Uploads `total` bytes in parts of `partSize`, generating each part as it goes. */
async function uploadLarge(
  s3: S3Client,
  bucket: string,
  key: string,
  total: number,
  partSize: number,
): Promise<number> {
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: 'video/mp4',
      Metadata: { bench: 'large' },
    }),
  );
  const count = Math.ceil(total / partSize);
  const parts = await mapConcurrent(
    Array.from({ length: count }, (_, i) => i),
    4,
    async (i) => {
      const size = Math.min(partSize, total - i * partSize);
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber: i + 1,
          Body: Buffer.alloc(size, i % 251),
        }),
      );
      return { PartNumber: i + 1, ETag: r.ETag };
    },
  );
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
  return count;
}

interface RestoreBenchOptions {
  n: number;
  bytes: number;
  largeMiB: number;
  partMiB: number;
  /** Keys per job shard (default: n / (2 × workers), so each job worker runs 2 shards). */
  shardKeys?: number;
  /** With a latency, one invocation and a job run again with every S3 request held this long. */
  s3LatencyMs: number;
  /** Job workers (default: the local stage's jobMaxConcurrency), and whether each has a process of its own. */
  jobWorkers?: number;
  jobWorkerProcesses: boolean;
}

/**
 * The two ways of restoring that are compared. `restore` is `sls invoke -f restore` today: a job,
 * started and polled until it is done (its workers are the local runtime's job-queue event source,
 * jobMaxConcurrency of them). `single` is the restore before jobs: the same restoreObjects in one
 * invocation (15 minutes at most), imported after the runtime set the environment, as a handler would
 * be (metrics off locally). `destroy` releases `single`'s clients.
 */
async function restoreEntryPoints(
  rt: LocalRuntime,
): Promise<{ restore: Restore; single: Restore; destroy: () => void }> {
  const handler = (await import('../functions/restore.ts')).handler as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<JobStatus>;
  const restore: Restore = async (payload) => {
    const started = await invokeHandler(handler, payload, lambdaContext('restore', 900_000));
    await rt.jobsIdle(3_600_000);
    const status = await invokeHandler(handler, { job: started.job }, lambdaContext('restore', 900_000));
    if (!status.report) throw new Error(`job ${status.job}: ${status.summary}`);
    return status.report as RestoreReport;
  };
  const { telemetry } = await import('../lib/aws/observability.ts');
  const { restoreObjects } = await import('../lib/restore/objects.ts');
  const { parseRestorePayload } = await import('../lib/restore/payload.ts');
  const runtime = (await import('../functions/runtime.ts')).createRuntime();
  const single: Restore = (payload) =>
    restoreObjects(parseRestorePayload(payload), {
      dr: runtime.dr,
      storeFor: runtime.storeFor,
      clock: systemClock(900_000),
      settings: runtime.config,
      ...telemetry,
    });
  return { restore, single, destroy: () => runtime.destroy() };
}

/**
 * Small objects: written, replicated and deleted at the source, then restored each way — a dry run, one
 * invocation, a job into another bucket, a job back into the source with the pipeline live (and what
 * replication made of the restored writes), and a rerun that finds everything in place.
 */
async function benchSmallObjects(
  rt: LocalRuntime,
  { restore, single }: { restore: Restore; single: Restore },
  options: RestoreBenchOptions,
): Promise<RestoreBenchResult['small']> {
  const source = rt.config.sourceBuckets[0]!;
  const small: RestoreBenchResult['small'] = {
    objects: options.n,
    bytesEach: options.bytes,
    runs: [],
    replicationOfRestoredWrites: '',
  };
  const prefix = 'bench/small/';
  process.stdout.write(
    `preparing ${options.n} × ${options.bytes} B: write, replicate, delete at the source…\n`,
  );
  await writeObjects({
    endpoint: rt.endpoint,
    bucket: source,
    prefix,
    count: options.n,
    bytes: options.bytes,
    concurrency: 32,
  });
  await rt.drain(600_000);
  const keys = Array.from({ length: options.n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
  await deleteAll(rt.s3, source, keys);
  await rt.drain(600_000);
  process.stdout.write('restore throughput:\n');
  small.runs.push(await timed(rt, restore, 'dry run (plan only), deleted prefix', { prefix }));
  small.runs.push(
    await timed(rt, single, 'one invocation (before jobs), into another bucket', {
      prefix,
      target: { bucket: TARGET, prefix: 'single/' },
      dryRun: false,
    }),
  );
  small.runs.push(
    await timed(rt, restore, 'job, into another allowed bucket (pipeline idle)', {
      prefix,
      target: { bucket: TARGET, prefix: 'copy/' },
      dryRun: false,
    }),
  );
  small.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  if (options.s3LatencyMs > 0) small.runs.push(...(await withLatency(rt, { restore, single }, options)));
  const skipped = rt.status.snapshot().objectsSkipped;
  const copied = rt.status.snapshot().objectsCopied;
  small.runs.push(
    await timed(rt, restore, 'back into the source bucket (pipeline live)', { prefix, dryRun: false }),
  );
  const drainStart = performance.now();
  await rt.drain(600_000);
  const recognised = rt.status.snapshot().objectsSkipped - skipped;
  const recopied = rt.status.snapshot().objectsCopied - copied;
  small.replicationOfRestoredWrites = `${recognised} restored writes recognised by replicate without a copy, ${recopied} copied again; queue drained ${((performance.now() - drainStart) / 1000).toFixed(1)} s after the restore returned`;
  process.stdout.write(`  replication: ${small.replicationOfRestoredWrites}\n`);
  small.runs.push(
    await timed(rt, restore, 'rerun (all identical: listings only, no copy)', { prefix, dryRun: false }),
  );
  await deleteAll(rt.s3, source, keys);
  await deleteAll(
    rt.s3,
    TARGET,
    keys.flatMap((k) => [`copy/${k}`, `single/${k}`, `copy-lat/${k}`, `single-lat/${k}`]),
  );
  await rt.drain(600_000);
  return small;
}

/**
 * One invocation and a job again, into prefixes of their own, with every S3 request held for the
 * modelled latency (the restore's requests only: preparing and cleaning up run without it).
 */
async function withLatency(
  rt: LocalRuntime,
  { restore, single }: { restore: Restore; single: Restore },
  { s3LatencyMs }: RestoreBenchOptions,
): Promise<RestoreRun[]> {
  const prefix = 'bench/small/';
  const at = `S3 latency ${s3LatencyMs} ms`;
  return [
    await timed(
      rt,
      single,
      `one invocation, into another bucket, ${at}`,
      { prefix, target: { bucket: TARGET, prefix: 'single-lat/' }, dryRun: false },
      s3LatencyMs,
    ),
    await timed(
      rt,
      restore,
      `job, into another allowed bucket, ${at}`,
      { prefix, target: { bucket: TARGET, prefix: 'copy-lat/' }, dryRun: false },
      s3LatencyMs,
    ),
  ];
}

/** One large multipart object, replicated and deleted, restored by a job into another bucket and back. */
async function benchLargeObject(
  rt: LocalRuntime,
  restore: Restore,
  options: RestoreBenchOptions,
): Promise<RestoreBenchResult['large']> {
  const source = rt.config.sourceBuckets[0]!;
  const key = 'bench/large/one.bin';
  const total = options.largeMiB * MiB;
  process.stdout.write(`preparing one ${options.largeMiB} MiB object in ${options.partMiB} MiB parts…\n`);
  const parts = await uploadLarge(rt.s3, source, key, total, options.partMiB * MiB);
  await rt.drain(900_000);
  await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
  await rt.drain(60_000);
  const large: NonNullable<RestoreBenchResult['large']> = { bytes: total, parts, runs: [] };
  large.runs.push(
    await timed(rt, restore, `${options.largeMiB} MiB multipart, into another bucket`, {
      keys: [key],
      target: { bucket: TARGET },
      dryRun: false,
    }),
  );
  large.runs.push(
    await timed(rt, restore, `${options.largeMiB} MiB multipart, back into the source`, {
      keys: [key],
      dryRun: false,
    }),
  );
  await rt.drain(900_000);
  return large;
}

/** Runs both restore benchmarks on one fresh local runtime. */
export async function benchRestore(options: RestoreBenchOptions): Promise<RestoreBenchResult> {
  const restoreConcurrency = Number(process.env.S3DR_RESTORE_CONCURRENCY ?? 32); // the default
  const partConcurrency = 16;
  // Two shards per worker by default, as with the local stage's ten workers and n / 20 before.
  const workers = options.jobWorkers ?? (await loadLocalSettings()).jobWorker.maxConcurrency;
  const jobShardKeys = options.shardKeys ?? Math.max(100, Math.ceil(options.n / (2 * workers)));
  const rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    pollers: 8,
    jobWorkers: workers,
    jobWorkerProcesses: options.jobWorkerProcesses,
    env: {
      S3DR_DELETE_POLICY: 'retain',
      S3DR_RESTORE_TARGETS: TARGET,
      S3DR_RESTORE_CONCURRENCY: String(restoreConcurrency),
      // Lowered from the 5 GiB default, so the large object takes the multipart copy path either way.
      S3DR_MULTIPART_THRESHOLD: String(64 * MiB),
      S3DR_PART_SIZE: String(options.partMiB * MiB),
      S3DR_PART_CONCURRENCY: String(partConcurrency),
      S3DR_JOB_SHARD_KEYS: String(jobShardKeys),
    },
    extraBuckets: [TARGET],
  });
  try {
    const entryPoints = await restoreEntryPoints(rt);
    const result: RestoreBenchResult = {
      machine: { cpus: availableParallelism(), node: process.version },
      settings: {
        restoreConcurrency,
        partConcurrency,
        partSizeMiB: options.partMiB,
        jobShardKeys,
        jobWorkers: workers,
        jobWorkerProcesses: options.jobWorkerProcesses,
        s3LatencyMs: options.s3LatencyMs,
      },
      small: await benchSmallObjects(rt, entryPoints, options),
    };
    entryPoints.destroy();
    if (options.largeMiB > 0) result.large = await benchLargeObject(rt, entryPoints.restore, options);
    return result;
  } finally {
    await rt.stop();
  }
}

/**
 * How the job's workers run. By default in this process, the local stage's jobMaxConcurrency of them,
 * as before. BENCH_JOB_WORKER_PROCESSES=1 gives each a process of its own, as Lambda gives each
 * concurrent invocation an execution environment of its own, one per core by default: more processes
 * than cores only take turns on them and starve the emulator that serves every request. Each starts
 * with a cold JIT, which the one invocation, run in this process after the preparation warmed the SDK's
 * request paths, does not (docs/performance.md#restore-jobs).
 */
function jobWorkerOptions(
  env: NodeJS.ProcessEnv,
): Pick<RestoreBenchOptions, 'jobWorkers' | 'jobWorkerProcesses'> {
  const jobWorkerProcesses = env.BENCH_JOB_WORKER_PROCESSES === '1';
  const count = env.BENCH_JOB_WORKERS ? Number(env.BENCH_JOB_WORKERS) : undefined;
  const jobWorkers = count ?? (jobWorkerProcesses ? availableParallelism() : undefined);
  return { jobWorkerProcesses, ...(jobWorkers === undefined ? {} : { jobWorkers }) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchRestore({
    n: Number(process.env.BENCH_N ?? 10_000),
    bytes: Number(process.env.BENCH_BYTES ?? 1024),
    largeMiB: Number(process.env.BENCH_LARGE_MIB ?? 1024),
    partMiB: Number(process.env.BENCH_PART_MIB ?? 8),
    s3LatencyMs: Number(process.env.BENCH_S3_LATENCY_MS ?? 0),
    ...jobWorkerOptions(process.env),
    ...(process.env.BENCH_SHARD_KEYS ? { shardKeys: Number(process.env.BENCH_SHARD_KEYS) } : {}),
  });
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/restore.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('wrote bench/results/restore.json\n');
}
