/**
 * `npm run bench:replicate`: writes N objects (default 10,000 × 1 KiB, concurrency 32) into the source
 * bucket of a fresh local runtime and measures, end to end, how fast they reach the DR bucket.
 *
 * Timestamps come from the emulator's own process (the moment each source write and each DR write is
 * stored), so put→DR latency is measured on one clock. Request counts come from the emulator too.
 * Env: BENCH_N, BENCH_BYTES, BENCH_CONCURRENCY, BENCH_RATE (objects/s offered; 0 = as fast as possible),
 * BENCH_REPLICATE_PROCESSES (the replicate function in that many processes of its own, as Lambda runs
 * concurrent invocations in separate environments; 0 = in the runtime's process; default
 * {@link DEFAULT_REPLICATE_PROCESSES}).
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.ts';
import { writeObjects } from './write-objects.ts';

export interface ReplicateBenchResult {
  objects: number;
  bytesEach: number;
  concurrency: number;
  offeredRate: number;
  writeSeconds: number;
  endToEndSeconds: number;
  objectsPerSecond: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  s3RequestsPerObject: number;
  sqsRequestsPerObject: number;
  /** Processes the replicate function ran in (0: in the runtime's process). */
  replicateProcesses?: number;
  /**
   * CPU milliseconds per replicated object, from the first write until DR is complete, by process:
   * `ours` is the local runtime's process (ingest + replicate handlers, the S3-notification stand-in and
   * the SQS poller) plus, with `replicateProcesses`, the replicate processes', `emulator` the S3 + SQS emulator's (it serves the writer too), `writer` the load
   * generator's. On a busy machine wall-clock figures swing; CPU per object is the steadier cost.
   */
  cpuMsPerObject: { ours: number; emulator: number; writer: number };
  /** The machine's load average (1, 5, 15 min) when the run started: on 2 shared cores it moves every time. */
  loadAverageAtStart: number[];
  requests: Record<string, number>;
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** The p-th percentile of sorted values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  );
}

/** See docs/performance.md#replication-throughput for the measurement that chose it. */
export const DEFAULT_REPLICATE_PROCESSES = 0;
const REPLICATE_PROCESSES = Number(process.env.BENCH_REPLICATE_PROCESSES ?? DEFAULT_REPLICATE_PROCESSES);

/**
 * A fresh local runtime for replication benchmarks. The fast path as measured since the first
 * benchmark: under `retain` a fresh small object is one conditional COPY. The local default is now
 * `mirror` (as on AWS), whose copy is confirmed by a HEAD of the source
 * (lib/replicate/replicate-key.ts): S3DR_DELETE_POLICY=mirror measures that.
 */
export function startReplicationRuntime(): Promise<LocalRuntime> {
  return startLocalRuntime({
    port: 0,
    quiet: true,
    pollers: 8,
    replicateProcesses: REPLICATE_PROCESSES,
    env: { S3DR_DELETE_POLICY: process.env.S3DR_DELETE_POLICY ?? 'retain' },
  });
}

/** CPU ms per object by process, for people. */
export function cpuLine(cpu: ReplicateBenchResult['cpuMsPerObject']): string {
  return `ours (ingest + replicate + poller) ${cpu.ours.toFixed(2)}, emulator ${cpu.emulator.toFixed(2)}, writer ${cpu.writer.toFixed(2)}`;
}

/** Runs one replication benchmark on a fresh local runtime. */
export async function benchReplicate(options: {
  n: number;
  bytes: number;
  concurrency: number;
  rate?: number;
  prefix?: string;
}): Promise<ReplicateBenchResult> {
  const loadAverageAtStart = loadavg();
  const rt = await startReplicationRuntime();
  try {
    const source = rt.config.sourceBuckets[0]!;
    const prefix = options.prefix ?? 'bench/';
    const written = new Map<string, number>();
    const replicated = new Map<string, number>();
    rt.emulator.onObjectEvent((e) => {
      if (!e.key.startsWith(prefix) || !e.eventName.startsWith('ObjectCreated')) return;
      if (e.bucket === source) written.set(e.key, e.time.getTime());
      else if (e.bucket === rt.config.drBucket && !replicated.has(e.key))
        replicated.set(e.key, e.time.getTime());
    });
    const before = await rt.emulator.requestCounts();
    const emulatorCpu = await rt.emulator.cpuUsage();
    const oursCpu = process.cpuUsage();
    const processesCpu = await rt.functionProcessesCpuUsage();
    const writer = await writeObjects({
      endpoint: rt.endpoint,
      bucket: source,
      prefix,
      count: options.n,
      bytes: options.bytes,
      concurrency: options.concurrency,
      rate: options.rate ?? 0,
    });
    await rt.drain(600_000);
    const cpu = {
      ours:
        (cpuMs(process.cpuUsage(oursCpu)) +
          cpuMs(await rt.functionProcessesCpuUsage()) -
          cpuMs(processesCpu)) /
        options.n,
      emulator: (cpuMs(await rt.emulator.cpuUsage()) - cpuMs(emulatorCpu)) / options.n,
      writer: writer.cpuMs / options.n,
    };
    const after = await rt.emulator.requestCounts();
    const requests: Record<string, number> = {};
    for (const [k, v] of Object.entries(after))
      if (v - (before[k] ?? 0) > 0) requests[k] = v - (before[k] ?? 0);
    if (replicated.size !== options.n) {
      throw new Error(`only ${replicated.size} of ${options.n} objects reached the DR bucket`);
    }
    const lags = [...replicated].map(([k, t]) => t - (written.get(k) ?? t)).sort((a, b) => a - b);
    const firstWrite = Math.min(...written.values());
    const lastWrite = Math.max(...written.values());
    const lastReplicated = Math.max(...replicated.values());
    const s3Requests = Object.entries(requests)
      .filter(([k]) => !k.startsWith('SQS:') && k !== 'PutObject')
      .reduce((a, [, v]) => a + v, 0);
    const sqsRequests = Object.entries(requests)
      .filter(([k]) => k.startsWith('SQS:') && k !== 'SQS:GetQueueAttributes')
      .reduce((a, [, v]) => a + v, 0);
    return {
      objects: options.n,
      bytesEach: options.bytes,
      concurrency: options.concurrency,
      offeredRate: options.rate ?? 0,
      replicateProcesses: REPLICATE_PROCESSES,
      writeSeconds: (lastWrite - firstWrite) / 1000,
      endToEndSeconds: (lastReplicated - firstWrite) / 1000,
      objectsPerSecond: options.n / ((lastReplicated - firstWrite) / 1000),
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: lags[lags.length - 1] ?? Number.NaN,
      s3RequestsPerObject: s3Requests / options.n,
      sqsRequestsPerObject: sqsRequests / options.n,
      cpuMsPerObject: cpu,
      loadAverageAtStart,
      requests,
    };
  } finally {
    await rt.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 10_000);
  const result = await benchReplicate({
    n,
    bytes: Number(process.env.BENCH_BYTES ?? 1024),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 32),
    rate: Number(process.env.BENCH_RATE ?? 0),
  });
  const rows: [string, string][] = [
    ['objects', `${result.objects} × ${result.bytesEach} B, concurrency ${result.concurrency}`],
    ['writes took', `${result.writeSeconds.toFixed(2)} s`],
    [
      'end to end',
      `${result.endToEndSeconds.toFixed(2)} s → ${result.objectsPerSecond.toFixed(0)} objects/s`,
    ],
    ['put→DR latency', `p50 ${result.lagP50Ms} ms, p99 ${result.lagP99Ms} ms, max ${result.lagMaxMs} ms`],
    ['S3 requests per object', `${result.s3RequestsPerObject.toFixed(2)} (besides the PUT itself)`],
    ['SQS requests per object', result.sqsRequestsPerObject.toFixed(2)],
    ['CPU ms per object', cpuLine(result.cpuMsPerObject)],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(24)} ${v}\n`);
  process.stdout.write(`requests: ${JSON.stringify(result.requests)}\n`);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL('./results/replicate.json', import.meta.url),
    `${JSON.stringify(result, null, 2)}\n`,
  );
}
