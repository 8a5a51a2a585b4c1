/**
 * `npm run bench:scale`: a restore and a verify of N keys, each from one command, through jobs on the
 * local runtime (issue #13), at each size of BENCH_SCALE_NS (default 20,000 and 200,000: memory must be
 * flat in N). Per size, on a fresh runtime whose job workers run each in a process of its own
 * (`jobWorkerProcesses`, as Lambda gives each concurrent invocation its own execution environment):
 *  1. N × 1 KiB written into the source bucket (by bench/load-writer.ts, in its own process) and
 *     replicated by the pipeline;
 *  2. a restore job of the whole prefix into another allowed bucket — one start, then the job runs;
 *  3. a verify job of the source bucket (as the schedule starts one) to its report.
 * Prints objects/s, S3 requests per object by operation (the emulator's counts) and memory per process.
 * The emulator, which holds every object of every bucket, runs in a process of its own and is not
 * measured. The runtime process hosts several functions at once — ingest, up to `pollers` concurrent
 * replicate invocations, the restore and verify handlers that start and answer jobs — and AWS's side
 * (the SQS pollers, the S3 notifier): its peak RSS and sampled V8 heap are given per phase, so each
 * figure belongs to the functions that phase runs (write + replicate: ingest and replicate; the jobs:
 * the restore and verify handlers). Each job worker process is one execution environment of the job
 * worker, run with the function's V8 heap limits from serverless.yml as Lambda runs it: its peak RSS
 * and V8 heap. Writes bench/results/scale.json. It reports; the targets are judged by people. Not part
 * of npm test.
 *
 * Env: BENCH_SCALE_NS ("20000,200000"), BENCH_SHARD_KEYS (default N / 20: two shards per worker).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { Context } from 'aws-lambda';
import type { JobStatus } from '../lib/jobs/model.ts';
import type { RestoreReport } from '../lib/restore/objects.ts';
import type { ProcessMemory } from '../local/function-processes.ts';
import { invokeHandler, lambdaContext } from '../local/lambda-context.ts';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.ts';
import { writeObjects } from './write-objects.ts';

const TARGET = 'bench-scale-target';
const HOUR = 3_600_000;

interface Phase {
  what: string;
  /** The runtime process meanwhile: its peak RSS so far, and the largest V8 heap and external memory sampled. */
  runtimeMiB: MemoryPeaks;
  objects: number;
  seconds: number;
  objectsPerSecond: number;
  requestsPerObject: Record<string, number>;
}

export interface ScaleRun {
  n: number;
  shardKeys: number;
  workers: number;
  phases: Phase[];
  peakRssMiB: { runtime: number; jobWorkers: ProcessMemory | undefined };
}

interface MemoryPeaks {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const mib = (bytes: number) => Math.round(bytes / 1_048_576);

/** Samples this process's memory every 250 ms while `work` runs: the peaks. */
async function sampled<T>(work: () => Promise<T>): Promise<[T, MemoryPeaks]> {
  const peaks: MemoryPeaks = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peaks.heapUsed = Math.max(peaks.heapUsed, mib(m.heapUsed));
    peaks.heapTotal = Math.max(peaks.heapTotal, mib(m.heapTotal));
    peaks.external = Math.max(peaks.external, mib(m.external));
  };
  const timer = setInterval(sample, 250);
  try {
    const result = await work();
    sample();
    peaks.rss = Math.round(process.resourceUsage().maxRSS / 1024);
    return [result, peaks];
  } finally {
    clearInterval(timer);
  }
}

/** Times `work`, and counts the S3 requests the emulator served meanwhile, per object. */
async function phase(rt: LocalRuntime, what: string, work: () => Promise<number>): Promise<Phase> {
  const before = await rt.emulator.requestCounts();
  const started = performance.now();
  const [objects, runtimeMiB] = await sampled(work);
  const seconds = (performance.now() - started) / 1000;
  const after = await rt.emulator.requestCounts();
  const requestsPerObject: Record<string, number> = {};
  for (const [op, count] of Object.entries(after)) {
    const delta = count - (before[op] ?? 0);
    if (delta > 0 && !op.startsWith('SQS:'))
      requestsPerObject[op] = Number((delta / Math.max(1, objects)).toFixed(4));
  }
  const result = {
    what,
    runtimeMiB,
    objects,
    seconds: Number(seconds.toFixed(2)),
    objectsPerSecond: Math.round(objects / seconds),
    requestsPerObject,
  };
  process.stdout.write(
    `  ${what.padEnd(40)} ${String(objects).padStart(7)} objects in ${seconds.toFixed(1).padStart(7)} s → ${String(result.objectsPerSecond).padStart(5)} objects/s; requests/object ${JSON.stringify(requestsPerObject)}; runtime MiB ${JSON.stringify(runtimeMiB)}\n`,
  );
  return result;
}

/** A restore job of the prefix into another bucket: one start; the status once the job queue is idle. */
async function restoreJob(rt: LocalRuntime, prefix: string): Promise<number> {
  const handler = (await import('../functions/restore.ts')).handler as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<JobStatus>;
  const payload = { prefix, target: { bucket: TARGET }, dryRun: false };
  const started = await invokeHandler(handler, payload, lambdaContext('restore', 900_000));
  await rt.jobsIdle(4 * HOUR);
  const status = await invokeHandler(handler, { job: started.job }, lambdaContext('restore', 900_000));
  const report = status.report as RestoreReport | undefined;
  if (!report?.complete) throw new Error(`restore job ${status.job}: ${status.summary}`);
  return report.results?.restored.objects ?? 0;
}

/** A verify job of the source bucket, as the schedule starts one, to its report: the keys it classified. */
async function verifyJob(rt: LocalRuntime): Promise<number> {
  const report = (await rt.verifyNow()) as { counts: Record<string, number>; pass: { complete: boolean } };
  if (!report.pass.complete) throw new Error(`verify pass not complete: ${JSON.stringify(report)}`);
  return Object.values(report.counts).reduce((a, b) => a + b, 0);
}

async function scaleRun(n: number): Promise<ScaleRun> {
  const shardKeys = Number(process.env.BENCH_SHARD_KEYS ?? Math.max(100, Math.ceil(n / 20)));
  const rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    pollers: 8,
    jobWorkerProcesses: true,
    env: {
      S3DR_DELETE_POLICY: 'retain',
      S3DR_RESTORE_TARGETS: TARGET,
      S3DR_JOB_SHARD_KEYS: String(shardKeys),
    },
    extraBuckets: [TARGET],
  });
  try {
    const source = rt.config.sourceBuckets[0] ?? '';
    process.stdout.write(`N = ${n}: writing and replicating ${n} × 1 KiB…\n`);
    const phases = [
      await phase(rt, 'write + replicate', async () => {
        await writeObjects({
          endpoint: rt.endpoint,
          bucket: source,
          prefix: 'scale/',
          count: n,
          bytes: 1024,
          concurrency: 32,
        });
        await rt.drain(4 * HOUR);
        return n;
      }),
      await phase(rt, 'restore job (one command)', () => restoreJob(rt, 'scale/')),
      await phase(rt, 'verify job (one command)', () => verifyJob(rt)),
    ];
    await rt.pauseJobWorkers(); // each worker process answers with its peak RSS
    const peakRssMiB = {
      runtime: Math.round(process.resourceUsage().maxRSS / 1024),
      jobWorkers: rt.jobWorkerPeakRssMiB(),
    };
    process.stdout.write(`  peak RSS (MiB): ${JSON.stringify(peakRssMiB)}\n`);
    return { n, shardKeys, workers: rt.settings.jobWorker.maxConcurrency, phases, peakRssMiB };
  } finally {
    await rt.stop();
  }
}

/**
 * Each size runs in a fresh process of its own: the handlers read the runtime's endpoint when first
 * imported, and the runtime process's peak RSS must be that size's alone for the flat-in-N comparison.
 */
async function scaleRunInChild(n: number): Promise<ScaleRun> {
  const { fork } = await import('node:child_process');
  const child = fork(new URL(import.meta.url).pathname, [], {
    env: { ...process.env, BENCH_SCALE_ONE: String(n) },
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (result) => resolve(result as ScaleRun));
    child.once('exit', (code) => reject(new Error(`the N = ${n} run exited (code ${code})`)));
  });
}

if (import.meta.url === `file://${process.argv[1]}` && process.env.BENCH_SCALE_ONE) {
  process.send?.(await scaleRun(Number(process.env.BENCH_SCALE_ONE)));
  process.disconnect?.();
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = (process.env.BENCH_SCALE_NS ?? '20000,200000').split(',').map(Number);
  const runs: ScaleRun[] = [];
  for (const n of sizes) runs.push(await scaleRunInChild(n));
  const result = {
    machine: { cpus: (await import('node:os')).availableParallelism(), node: process.version },
    runs,
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/scale.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('wrote bench/results/scale.json\n');
}
