/**
 * `npm run bench`: s3-dr against its peers, on the local emulator, in one run.
 *
 * 1. s3-dr end to end: N objects (default 10,000 × 1 KiB) written at concurrency 32 through a fresh local
 *    runtime (bench/replicate.ts `benchReplicate`): objects/s from first write to last DR copy, put→DR p50/p99.
 *    CPU ms per replicated object by process: ours (ingest + replicate + poller), the emulator, the writer.
 * 2. Peers copying the same N objects (same keys, same sizes) between two emulated buckets:
 *    `rclone sync --transfers 32` and `aws s3 sync` (Debian's `rclone` and `awscli`; installed with apt-get
 *    when missing and running as root). Ratios s3-dr / peer, and "write, then rclone sync" (the same writer
 *    alone, then rclone) ÷ s3-dr's write → DR complete: ≥ 1 means DR is complete no later (issue #16).
 * 3. One change among the N: the S3 requests each tool needs to propagate it (emulator request counts),
 *    after a settling second sync. s3-dr is event-driven; a sync tool has to list (and maybe HEAD) everything.
 * 4. put→DR p50/p99 at 100 objects/s offered load (BENCH_RATE, BENCH_RATE_N objects).
 * 5. The floor (bench/replicate-floor.ts): the same writer, and while it writes, the SDK's conditional
 *    CopyObject per written object from s3-dr's client, as many at once as the pipeline has in flight
 *    (BENCH_FLOOR_COPIES, default 8 pollers × 10 per batch), with no ingest, SQS or poller: what any
 *    SDK-based replicator could reach here. "Write, then rclone sync" ÷ floor is the best issue #16's
 *    ratio could be; s3-dr ÷ floor is what the pipeline costs on top.
 *
 * Prints a table and writes bench/results/bench.json. Env: BENCH_N, BENCH_BYTES, BENCH_CONCURRENCY,
 * BENCH_RATE, BENCH_RATE_N, BENCH_REPEAT (runs of the whole thing, default 1), BENCH_PEERS (comma list
 * of rclone,aws), BENCH_ONLY (comma list of ours,floor,peers,change,rate: a partial run, not recorded),
 * BENCH_CPU_PROF=<dir> (CPU profiles of the handler processes, node --cpu-prof).
 */

import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type Emulator, startEmulatorProcess } from '../local/emulator.ts';
import { findTool, tools } from '../tests/helpers/tools.ts';
import { benchReplicate, cpuLine, type ReplicateBenchResult, startReplicationRuntime } from './replicate.ts';
import { benchCopyFloor, type CopyFloorResult } from './replicate-floor.ts';
import { writeObjects } from './write-objects.ts';

const run = promisify(execFile);
const N = Number(process.env.BENCH_N ?? 10_000);
const BYTES = Number(process.env.BENCH_BYTES ?? 1024);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const RATE_N = Number(process.env.BENCH_RATE_N ?? 3000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'ours,floor,peers,change,rate').split(','));
/**
 * CopyObject requests the floor keeps in flight: as many as the pipeline can — the local runtime's
 * pollers (bench/replicate.ts startReplicationRuntime: 8) × the replicate batch size (serverless.yml
 * replicateBatchSize: 10), whose messages the handler runs in parallel.
 */
const FLOOR_COPIES = Number(process.env.BENCH_FLOOR_COPIES ?? 80);
/** The peers to run (BENCH_PEERS: comma list of tool names, `rclone,aws` by default). */
const PEERS = (process.env.BENCH_PEERS ?? 'rclone,aws').split(',');
const PREFIX = 'bench/';
/** The AWS CLI v2 found on PATH (pyenv may put a v1 first); set by ensureTools. */
let AWS = 'aws';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const CHANGED_KEY = `${PREFIX}${String(Math.floor(N / 2)).padStart(6, '0')}`;

/** Requests by S3 operation (SQS excluded) between two emulator request-count snapshots. */
function s3Delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [op, count] of Object.entries(after)) {
    const d = count - (before[op] ?? 0);
    if (d > 0 && !op.startsWith('SQS:') && op !== 'PutBucket') delta[op] = d;
  }
  return delta;
}
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

async function ensureTools(): Promise<void> {
  const aws = await findTool(tools.aws).catch(() => undefined);
  if (aws) AWS = aws;
  const missing = [
    ...(aws ? [] : ['awscli']),
    ...((await run('sh', ['-c', 'command -v rclone']).then(
      () => true,
      () => false,
    ))
      ? []
      : ['rclone']),
  ];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${missing.join(' and ')}: install with sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  process.stdout.write(`installing ${missing.join(', ')} with apt-get…\n`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { maxBuffer: 64 << 20 });
  AWS = await findTool(tools.aws);
}

async function countObjects(s3: S3Client, bucket: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    count += r.KeyCount ?? 0;
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return count;
}

interface Tool {
  name: string;
  command: (from: string, to: string) => [string, string[]];
}

/** Runs a command with the environment the peers need; resolves with wall-clock seconds. */
async function timed(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)),
    );
  });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

interface PeerResult {
  tool: string;
  command: string;
  seconds: number;
  objectsPerSecond: number;
  requests: Record<string, number>;
  /** CPU ms per object the emulator spent serving the sync (the tool's own CPU is not measured). */
  emulatorCpuMsPerObject?: number;
  /** Requests of a second sync with nothing changed. */
  settle?: Record<string, number>;
  oneChange: { requests: Record<string, number>; total: number; seconds: number };
}

/** The peers' environment: the AWS CLI and rclone pointed at the emulator, with config files in `dir`. */
function peerEnv(dir: string, endpoint: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_PAGER: '',
    RCLONE_CONFIG: join(dir, 'rclone.conf'),
    RCLONE_CONFIG_EMU_TYPE: 's3',
    RCLONE_CONFIG_EMU_PROVIDER: 'Other',
    RCLONE_CONFIG_EMU_ENDPOINT: endpoint,
    RCLONE_CONFIG_EMU_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_EMU_ACCESS_KEY_ID: credentials.accessKeyId,
    RCLONE_CONFIG_EMU_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    RCLONE_CONFIG_EMU_REGION: 'us-east-1',
  };
}

/** The sync tools s3-dr is compared with, each copying one bucket to another on the emulator. */
function peerTools(endpoint: string): Tool[] {
  const all: Tool[] = [
    {
      name: 'rclone sync --transfers 32',
      command: (from, to) => ['rclone', ['sync', `emu:${from}`, `emu:${to}`, '--transfers', '32', '-q']],
    },
    {
      name: 'aws s3 sync',
      command: (from, to) => [
        AWS,
        ['--endpoint-url', endpoint, 's3', 'sync', `s3://${from}`, `s3://${to}`, '--only-show-errors'],
      ],
    },
  ];
  return all.filter((t) => PEERS.some((p) => t.name.startsWith(p)));
}

/** Runs one sync, timed, with the S3 requests the emulator served it. */
async function measuredSync(
  emulator: Emulator,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; requests: Record<string, number>; emulatorCpuMs: number }> {
  const before = await emulator.requestCounts();
  const cpuBefore = await emulator.cpuUsage();
  const seconds = await timed(file, args, env);
  const cpu = await emulator.cpuUsage();
  const emulatorCpuMs = (cpu.user + cpu.system - cpuBefore.user - cpuBefore.system) / 1000;
  return { seconds, requests: s3Delta(before, await emulator.requestCounts()), emulatorCpuMs };
}

/** The peers' source written by the same writer, alone: the "write" of "write, then sync". */
interface PeerWrite {
  seconds: number;
  writerCpuMsPerObject: number;
}

async function benchPeers(): Promise<{ write: PeerWrite; tools: PeerResult[] }> {
  await ensureTools();
  const emulator: Emulator = await startEmulatorProcess({ port: 0, statusSnapshot: () => ({}) });
  const dir = await mkdtemp(join(tmpdir(), 's3dr-bench-'));
  const s3 = new S3Client({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
  });
  try {
    await writeFile(
      join(dir, 'aws-config'),
      '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n',
    );
    const env = peerEnv(dir, emulator.endpoint);
    const tools = peerTools(emulator.endpoint);
    const source = 'peer-source';
    const targets = ['peer-rclone', 'peer-awscli'];
    for (const bucket of [source, ...targets]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const written = await writeObjects({
      endpoint: emulator.endpoint,
      bucket: source,
      prefix: PREFIX,
      count: N,
      bytes: BYTES,
      concurrency: CONCURRENCY,
    });
    const write = { seconds: written.ms / 1000, writerCpuMsPerObject: written.cpuMs / N };

    const results: PeerResult[] = [];
    for (const [i, tool] of tools.entries()) {
      const target = targets[i]!;
      const [file, args] = tool.command(source, target);
      const { seconds, requests, emulatorCpuMs } = await measuredSync(emulator, file, args, env);
      const copied = await countObjects(s3, target);
      if (copied !== N) throw new Error(`${tool.name} left ${copied} of ${N} objects in ${target}`);
      results.push({
        tool: tool.name,
        command: `${file === AWS ? 'aws' : file} ${args.join(' ')}`,
        seconds,
        objectsPerSecond: N / seconds,
        requests,
        emulatorCpuMsPerObject: emulatorCpuMs / N,
        oneChange: { requests: {}, total: 0, seconds: 0 },
      });
    }
    // A second sync with nothing changed lets each tool settle (rclone re-copies everything once to
    // store its mtime metadata), so the one-change figures below are its steady state.
    for (const [i, tool] of tools.entries()) {
      const [file, args] = tool.command(source, targets[i]!);
      results[i]!.settle = (await measuredSync(emulator, file, args, env)).requests;
    }
    // One changed object (new bytes, new size), then each tool again.
    await s3.send(
      new PutObjectCommand({ Bucket: source, Key: CHANGED_KEY, Body: Buffer.alloc(BYTES + 1, 9) }),
    );
    for (const [i, tool] of tools.entries()) {
      const [file, args] = tool.command(source, targets[i]!);
      const { seconds, requests } = await measuredSync(emulator, file, args, env);
      results[i]!.oneChange = { requests, total: total(requests), seconds };
    }
    return { write, tools: results };
  } finally {
    s3.destroy();
    await emulator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** s3-dr with N objects replicated, then one of them changed: the S3 requests the change costs. */
async function benchOneChange(): Promise<{
  requests: Record<string, number>;
  total: number;
  sqs: Record<string, number>;
}> {
  const rt = await startReplicationRuntime();
  try {
    const source = rt.config.sourceBuckets[0]!;
    await writeObjects({
      endpoint: rt.endpoint,
      bucket: source,
      prefix: PREFIX,
      count: N,
      bytes: BYTES,
      concurrency: CONCURRENCY,
    });
    await rt.drain(600_000);
    const before = await rt.emulator.requestCounts();
    await rt.s3.send(
      new PutObjectCommand({ Bucket: source, Key: CHANGED_KEY, Body: Buffer.alloc(BYTES + 1, 9) }),
    );
    await rt.drain(60_000);
    const after = await rt.emulator.requestCounts();
    const requests = s3Delta(before, after);
    requests.PutObject = (requests.PutObject ?? 0) - 1; // the change itself
    if (requests.PutObject === 0) delete requests.PutObject;
    const sqs: Record<string, number> = {};
    for (const [op, count] of Object.entries(after)) {
      const d = count - (before[op] ?? 0);
      if (d > 0 && op.startsWith('SQS:') && !['SQS:ReceiveMessage', 'SQS:GetQueueAttributes'].includes(op)) {
        sqs[op] = d;
      }
    }
    return { requests, total: total(requests), sqs };
  } finally {
    await rt.stop();
  }
}

interface BenchRun {
  startedAt: string;
  ours?: ReplicateBenchResult;
  /** The SDK's CopyObject alone while the same writer writes (bench/replicate-floor.ts). */
  floor?: CopyFloorResult;
  peers?: PeerResult[];
  peerWrite?: PeerWrite;
  oneChange?: Awaited<ReturnType<typeof benchOneChange>>;
  atRate?: ReplicateBenchResult;
}

const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);

function report(r: BenchRun) {
  const rclone = r.peers?.find((p) => p.tool.startsWith('rclone'));
  const aws = r.peers?.find((p) => p.tool.startsWith('aws'));
  const ours = r.ours?.objectsPerSecond;
  // "Write, then rclone sync": when a batch user writing the same objects, then syncing them, would
  // have DR complete; ≥ 1 means s3-dr's DR is complete no later (issue #16).
  const writeThenRclone = rclone && r.peerWrite ? r.peerWrite.seconds + rclone.seconds : undefined;
  const ratios = {
    vsAwsS3Sync: ours && aws ? ours / aws.objectsPerSecond : undefined,
    vsRclone32: ours && rclone ? ours / rclone.objectsPerSecond : undefined,
    vsWriteThenRclone32: writeThenRclone && r.ours ? writeThenRclone / r.ours.endToEndSeconds : undefined,
    // The same ratio for the floor: the best an SDK-based replicator could show here.
    floorVsWriteThenRclone32:
      writeThenRclone && r.floor ? writeThenRclone / r.floor.endToEndSeconds : undefined,
    /** s3-dr's write → DR complete ÷ the floor's: what the pipeline adds to the SDK's copies. */
    oursOverFloor: r.ours && r.floor ? r.ours.endToEndSeconds / r.floor.endToEndSeconds : undefined,
  };
  const targets = {
    endToEndAtLeastAwsS3Sync: ratios.vsAwsS3Sync === undefined ? undefined : ratios.vsAwsS3Sync >= 1,
    endToEndAtLeastQuarterOfRclone32: ratios.vsRclone32 === undefined ? undefined : ratios.vsRclone32 >= 0.25,
    endToEndNoLaterThanWriteThenRclone32:
      ratios.vsWriteThenRclone32 === undefined ? undefined : ratios.vsWriteThenRclone32 >= 1,
    p99Under2sAsFastAsPossible: r.ours ? r.ours.lagP99Ms < 2000 : undefined,
    oneChangeAtMost3S3Requests: r.oneChange ? r.oneChange.total <= 3 : undefined,
    p99Under1sAt100PerSecond: r.atRate ? r.atRate.lagP99Ms < 1000 : undefined,
    // The same two targets for the floor: one it misses is out of reach of any SDK-based replicator here.
    floorNoLaterThanWriteThenRclone32:
      ratios.floorVsWriteThenRclone32 === undefined ? undefined : ratios.floorVsWriteThenRclone32 >= 1,
    floorP99Under2sAsFastAsPossible: r.floor ? r.floor.lagP99Ms < 2000 : undefined,
  };
  const lines: string[] = [];
  const row = (cells: string[]) =>
    lines.push(cells.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(14))).join(''));
  lines.push(`N = ${N} objects × ${BYTES} B; ${cpus().length} CPUs; node ${process.version}`);
  row(['', 'objects/s', 'seconds', 'ours ÷ this']);
  if (r.ours) row(['s3-dr end to end (write→DR)', fmt(ours), fmt(r.ours.endToEndSeconds, 1), '1.00']);
  if (r.floor)
    row([
      'floor: SDK CopyObject alone',
      fmt(r.floor.objectsPerSecond),
      fmt(r.floor.endToEndSeconds, 1),
      ours ? fmt(ours / r.floor.objectsPerSecond, 2) : '-',
    ]);
  for (const p of r.peers ?? []) {
    row([p.tool, fmt(p.objectsPerSecond), fmt(p.seconds, 1), ours ? fmt(ours / p.objectsPerSecond, 2) : '-']);
  }
  if (writeThenRclone && r.peerWrite)
    lines.push(
      `write alone ${fmt(r.peerWrite.seconds, 1)} s, then rclone sync: ${fmt(writeThenRclone, 1)} s; ÷ s3-dr end to end: ${fmt(ratios.vsWriteThenRclone32, 2)} (target ≥ 1)`,
    );
  if (r.ours) {
    lines.push(
      `(s3-dr's time includes writing the ${N} objects, ${fmt(r.ours.writeSeconds, 1)} s, on the same cores; the peers copy objects already written)`,
    );
    lines.push(
      `put→DR latency, as fast as possible: p50 ${r.ours.lagP50Ms} ms, p99 ${r.ours.lagP99Ms} ms, max ${r.ours.lagMaxMs} ms; ${fmt(r.ours.s3RequestsPerObject, 2)} S3 requests/object besides the PUT`,
    );
    lines.push(`CPU ms per replicated object: ${cpuLine(r.ours.cpuMsPerObject)}`);
  }
  if (r.floor) lines.push(...floorLines(r.floor, ratios.floorVsWriteThenRclone32));
  if (r.atRate) {
    lines.push(
      `put→DR latency at ${r.atRate.offeredRate} objects/s offered (${r.atRate.objects} objects): p50 ${r.atRate.lagP50Ms} ms, p99 ${r.atRate.lagP99Ms} ms, max ${r.atRate.lagMaxMs} ms`,
    );
    lines.push(`  CPU ms per object at that rate: ${cpuLine(r.atRate.cpuMsPerObject)}`);
  }
  const show = (req: Record<string, number>) =>
    Object.entries(req)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  lines.push(`1 change among ${N} objects, S3 requests to propagate it:`);
  if (r.oneChange)
    lines.push(
      `  s3-dr: ${r.oneChange.total} (${show(r.oneChange.requests)}; SQS: ${show(r.oneChange.sqs)})`,
    );
  for (const p of r.peers ?? [])
    lines.push(`  ${p.tool}: ${p.oneChange.total} (${show(p.oneChange.requests)})`);
  lines.push(
    `targets: ${Object.entries(targets)
      .map(([k, v]) => `${k} ${v === undefined ? 'n/a' : v ? 'met' : 'MISSED'}`)
      .join('; ')}`,
  );
  return { text: lines.join('\n'), ratios, targets };
}

/** The floor's lines: its latency, its CPU per object, and the issue's ratio it would reach. */
function floorLines(floor: CopyFloorResult, vsWriteThenRclone: number | undefined): string[] {
  const cpu = floor.cpuMsPerObject;
  return [
    `floor (writer + SDK CopyObject × ${floor.copyConcurrency} at once, no ingest/SQS/poller): write → DR complete ${fmt(floor.endToEndSeconds, 1)} s (writes ${fmt(floor.writeSeconds, 1)} s); put→DR p50 ${floor.lagP50Ms} ms, p99 ${floor.lagP99Ms} ms`,
    `  floor CPU ms per object: copier ${cpu.copier.toFixed(2)}, emulator ${cpu.emulator.toFixed(2)}, writer ${cpu.writer.toFixed(2)}; write, then rclone sync ÷ floor: ${fmt(vsWriteThenRclone, 2)}`,
  ];
}

/**
 * The handlers read their configuration when first imported, so one process hosts one local runtime:
 * each runtime-based phase runs in a child process of its own and reports one JSON line.
 */
async function inChild<T>(phase: string): Promise<T> {
  const profile = process.env.BENCH_CPU_PROF;
  const { stdout } = await run(
    process.execPath,
    [
      '--no-warnings',
      ...(profile
        ? ['--cpu-prof', `--cpu-prof-dir=${profile}`, `--cpu-prof-name=${phase}-${Date.now()}.cpuprofile`]
        : []),
      new URL(import.meta.url).pathname,
    ],
    { env: { ...process.env, BENCH_PHASE: phase }, maxBuffer: 256 << 20 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`bench phase ${phase} reported nothing`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as T;
}

async function runPhase(phase: string): Promise<unknown> {
  switch (phase) {
    case 'ours':
      return benchReplicate({ n: N, bytes: BYTES, concurrency: CONCURRENCY });
    case 'change':
      return benchOneChange();
    case 'rate':
      return benchReplicate({ n: RATE_N, bytes: BYTES, concurrency: CONCURRENCY, rate: RATE });
    case 'floor':
      return benchCopyFloor({ n: N, bytes: BYTES, concurrency: CONCURRENCY, copyConcurrency: FLOOR_COPIES });
    default:
      throw new Error(`unknown bench phase ${phase}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}` && process.env.BENCH_PHASE) {
  const result = await runPhase(process.env.BENCH_PHASE);
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(result)}\n`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const loadAverageAtStart = loadavg();
  const runs: (BenchRun & { ratios: unknown; targets: unknown })[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const r: BenchRun = { startedAt: new Date().toISOString() };
    if (ONLY.has('ours')) r.ours = await inChild<ReplicateBenchResult>('ours');
    if (ONLY.has('floor')) r.floor = await inChild<CopyFloorResult>('floor');
    if (ONLY.has('peers')) ({ tools: r.peers, write: r.peerWrite } = await benchPeers());
    if (ONLY.has('change')) r.oneChange = await inChild<BenchRun['oneChange']>('change');
    if (ONLY.has('rate')) r.atRate = await inChild<ReplicateBenchResult>('rate');
    const { text, ratios, targets } = report(r);
    process.stdout.write(`\n— run ${i + 1} of ${REPEAT} —\n${text}\n`);
    runs.push({ ...r, ratios, targets });
  }
  // A partial run (BENCH_ONLY) prints its figures but leaves the recorded results alone.
  if (process.env.BENCH_ONLY) process.exit(0);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL('./results/bench.json', import.meta.url),
    `${JSON.stringify({ machine: { cpus: cpus().length, node: process.version, loadAverageAtStart }, n: N, bytes: BYTES, runs }, null, 2)}\n`,
  );
}
