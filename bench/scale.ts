/**
 * `npm run bench:scale`: a restore and a verify of N keys, each from one command, through jobs on the
 * local runtime (issue #13), at each size of BENCH_SCALE_NS (default 20,000 and 200,000: memory must be
 * flat in N). Per size, on a fresh runtime whose functions run in processes of their own, as Lambda
 * gives each concurrent invocation its own execution environment — ingest (`ingestProcesses`),
 * replicate (`replicateProcesses`) and the job worker (`jobWorkerProcesses`), each with the V8 heap
 * limits Lambda would give it (local/function-processes.ts):
 *  1. N × 1 KiB written into the source bucket (by bench/load-writer.ts, in its own process) and
 *     replicated by the pipeline;
 *  2. a restore job of the whole prefix into another allowed bucket — one start, then the job runs;
 *  3. a verify job of the source bucket (as the schedule starts one) to its report.
 * Prints objects/s, S3 requests per object by operation (the emulator's counts) and the peak RSS and
 * sampled V8 heap of each function's processes — the memory Lambda would report for each. The
 * emulator, which holds every object of every bucket, runs in a process of its own and is not measured.
 * The runtime process is not a function: it stands for AWS's side — the S3 notification stand-in, the
 * asynchronous invocation queue in front of ingest, the SQS pollers' bookkeeping, the status board —
 * and runs the restore and verify handlers' short start and status invocations; its own peak RSS,
 * sampled V8 heap and the peak backlog of S3 events waiting for ingest are reported apart, per phase.
 * BENCH_SCALE_IN_PROCESS=1 runs ingest and replicate in the runtime process instead (the layout before
 * issue #13's per-function figures), to compare the runtime's memory with and without them. Writes
 * bench/results/scale.json after each size. It reports; the targets are judged by people. Not part of
 * npm test.
 *
 * Env: BENCH_SCALE_NS ("20000,200000"), BENCH_SHARD_KEYS (default N / 20: two shards per worker),
 * BENCH_SCALE_IN_PROCESS; for a look at the runtime's memory, BENCH_SCALE_WRITE_ONLY=1 (write +
 * replicate only), BENCH_SCALE_HEAP_SNAPSHOT=<folder>, BENCH_SCALE_OUT=<results file>.
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
  /**
   * The runtime process (the local Lambda service and S3 notification stand-in, not a function)
   * meanwhile: its peak RSS so far, and the largest V8 heap and external memory sampled.
   */
  runtimeMiB: MemoryPeaks;
  /** The largest backlog sampled: S3 events not yet handed to ingest, ingest invocations pending. */
  peakBacklog: { notifications: number; ingestInvocations: number };
  /** Each function's processes: peak RSS and V8 heap so far, by serverless.yml name. */
  functions: Record<string, ProcessMemory>;
  objects: number;
  seconds: number;
  objectsPerSecond: number;
  requestsPerObject: Record<string, number>;
}

export interface ScaleRun {
  n: number;
  shardKeys: number;
  workers: number;
  /** How many processes ran ingest and replicate (0: in the runtime process). */
  processes: { ingest: number; replicate: number };
  phases: Phase[];
  peakRssMiB: {
    /** Each function's processes, as Lambda would report each execution environment's memory. */
    functions: Record<string, ProcessMemory>;
    /** The runtime process: the local Lambda service + S3 notification stand-in, not a function. */
    localServiceAndNotifier: number;
  };
}

interface MemoryPeaks {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const mib = (bytes: number) => Math.round(bytes / 1_048_576);

/** Samples this process's memory and the runtime's backlog every 250 ms while `work` runs: the peaks. */
async function sampled<T>(
  rt: LocalRuntime,
  work: () => Promise<T>,
): Promise<[T, MemoryPeaks, Phase['peakBacklog']]> {
  const peaks: MemoryPeaks = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
  const backlog = { notifications: 0, ingestInvocations: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peaks.heapUsed = Math.max(peaks.heapUsed, mib(m.heapUsed));
    peaks.heapTotal = Math.max(peaks.heapTotal, mib(m.heapTotal));
    peaks.external = Math.max(peaks.external, mib(m.external));
    const b = rt.backlog();
    backlog.notifications = Math.max(backlog.notifications, b.notifications);
    backlog.ingestInvocations = Math.max(backlog.ingestInvocations, b.ingestInvocations);
  };
  const timer = setInterval(sample, 250);
  try {
    const result = await work();
    sample();
    peaks.rss = Math.round(process.resourceUsage().maxRSS / 1024);
    return [result, peaks, backlog];
  } finally {
    clearInterval(timer);
  }
}

/** Times `work`, and counts the S3 requests the emulator served meanwhile, per object. */
async function phase(rt: LocalRuntime, what: string, work: () => Promise<number>): Promise<Phase> {
  const before = await rt.emulator.requestCounts();
  const started = performance.now();
  const [objects, runtimeMiB, peakBacklog] = await sampled(rt, work);
  const seconds = (performance.now() - started) / 1000;
  const after = await rt.emulator.requestCounts();
  const requestsPerObject: Record<string, number> = {};
  for (const [op, count] of Object.entries(after)) {
    const delta = count - (before[op] ?? 0);
    if (delta > 0 && !op.startsWith('SQS:'))
      requestsPerObject[op] = Number((delta / Math.max(1, objects)).toFixed(4));
  }
  const functions = await rt.functionProcessesMemory();
  const result = {
    what,
    runtimeMiB,
    peakBacklog,
    functions,
    objects,
    seconds: Number(seconds.toFixed(2)),
    objectsPerSecond: Math.round(objects / seconds),
    requestsPerObject,
  };
  process.stdout.write(
    `  ${what.padEnd(40)} ${String(objects).padStart(7)} objects in ${seconds.toFixed(1).padStart(7)} s → ${String(result.objectsPerSecond).padStart(5)} objects/s; requests/object ${JSON.stringify(requestsPerObject)}; runtime MiB ${JSON.stringify(runtimeMiB)}; peak backlog ${JSON.stringify(peakBacklog)}; function peak RSS MiB ${JSON.stringify(Object.fromEntries(Object.entries(functions).map(([f, m]) => [f, m.max])))}\n`,
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

/**
 * With BENCH_SCALE_HEAP_SNAPSHOT=<folder>: a heap snapshot of the runtime process once write +
 * replicate drained, to see what it holds at each size (writing one grows the process: the figures
 * after it are not the run's).
 */
async function heapSnapshot(n: number): Promise<void> {
  const folder = process.env.BENCH_SCALE_HEAP_SNAPSHOT;
  if (!folder) return;
  const { writeHeapSnapshot } = await import('node:v8');
  await mkdir(folder, { recursive: true });
  process.stdout.write(`  heap snapshot: ${writeHeapSnapshot(`${folder}/runtime-${n}.heapsnapshot`)}\n`);
}

async function scaleRun(n: number): Promise<ScaleRun> {
  const shardKeys = Number(process.env.BENCH_SHARD_KEYS ?? Math.max(100, Math.ceil(n / 20)));
  // Two replicate environments with four pollers each (the runtime's eight, shared), one ingest
  // environment: on this 2-core machine more processes only share the same cores.
  const processes = process.env.BENCH_SCALE_IN_PROCESS
    ? { ingest: 0, replicate: 0 }
    : { ingest: 1, replicate: 2 };
  const rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    pollers: 8,
    ingestProcesses: processes.ingest,
    replicateProcesses: processes.replicate,
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
    ];
    await heapSnapshot(n);
    if (!process.env.BENCH_SCALE_WRITE_ONLY) {
      phases.push(await phase(rt, 'restore job (one command)', () => restoreJob(rt, 'scale/')));
      phases.push(await phase(rt, 'verify job (one command)', () => verifyJob(rt)));
    }
    const peakRssMiB = {
      functions: await rt.functionProcessesMemory(),
      localServiceAndNotifier: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    process.stdout.write(`  peak RSS (MiB): ${JSON.stringify(peakRssMiB)}\n`);
    const workers = rt.settings.jobWorker.maxConcurrency;
    return { n, shardKeys, workers, processes, phases, peakRssMiB };
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
  const machine = { cpus: (await import('node:os')).availableParallelism(), node: process.version };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const out = process.env.BENCH_SCALE_OUT ?? new URL('./results/scale.json', import.meta.url).pathname;
  // Written after each size: a long run cut short still leaves the sizes it finished.
  for (const n of sizes) {
    runs.push(await scaleRunInChild(n));
    const result = { machine, runs };
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${out} (N = ${runs.map((r) => r.n).join(', ')})\n`);
  }
}
