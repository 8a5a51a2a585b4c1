/**
 * `npm run bench:verify`: times one full verifier pass over two buckets of N objects (default 100,000;
 * BENCH_N) on the local emulator, next to `rclone check` on the same buckets, and measures what the
 * issue's targets are about: wall time, peak RSS (at N and at N/10: memory must not grow with the
 * bucket), S3 requests (LIST per 1,000 keys, HEADs only for ETag differences).
 *
 * Three kinds of process, so each measurement is of one thing only, on this 2-core machine:
 *  - the emulator (fauxqs, patched; `--emulator`), which holds the buckets — filled directly through its
 *    store, with a few hundred planted differences — and counts the requests it serves;
 *  - one fresh verifier process per pass (`--verifier`), which reports its own peak RSS and CPU time.
 *    A pass is one unsharded verify run over the whole scope (`lib/verify/run.ts` verifySources: its
 *    shards listed 8 at a time in one process), as verify ran before it became a job — no function runs
 *    it any more, but earlier results were measured on it — or, with BENCH_VERIFY_MODE=job, a whole
 *    verify job as deployed: start, the planning step's listing of the source, then the key-range
 *    shards (`lib/verify/job.ts`, results in bench/results/verify-job.json). Either way the timed span
 *    starts after the process has loaded its modules and built its clients: the first requests'
 *    set-up (credentials, signing keys) and the JIT's warm-up are in it, as in a Lambda's first
 *    invocation, module loading is not (it is Lambda's INIT phase, which bench:cold measures). It runs with the job worker's NODE_OPTIONS (verify jobs run there) from
 *    serverless.yml — the V8 heap limits it has on Lambda — unless BENCH_VERIFY_NODE_OPTIONS says
 *    otherwise (set it empty for V8's defaults on this host);
 *  - `rclone check` (Debian's rclone; installed with apt-get if missing).
 *
 * Env: BENCH_N (100000), BENCH_SMALL_N (N/10), BENCH_EXTRA_N (more sizes, e.g. 300000, to show the
 * plateau), BENCH_FLAT=0 (skip the flat layout: all N keys under one prefix, measured at N),
 * BENCH_REPEAT (5 rounds; best times and medians are both kept, and each round's verifier ÷ rclone
 * ratio, the two runs made back to back, is what the targets judge, by its median), BENCH_KEYS_PER_PREFIX
 * (1000), BENCH_RCLONE=0 (skip rclone), BENCH_VERIFY_NODE_OPTIONS, BENCH_NODE_FLAGS (more flags for the
 * verifier process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), BENCH_EMULATOR_FLAGS (the same for
 * the emulator process), BENCH_VERIFY_BASELINE (another checkout, e.g. of main, sharing this one's
 * node_modules: its verifier runs in the same rounds, for a before/after under the same load),
 * BENCH_VERIFY_OUT (another result file; `-`: none), S3DR_VERIFY_CONCURRENCY (8), BENCH_VERIFY_MODE
 * (`run` or `job`, see above), BENCH_JOB_CONCURRENCY (10: job messages at once), S3DR_VERIFY_SHARD_KEYS,
 * BENCH_FLOOR=0 (skip the floor: each round also runs, in a fresh process, the SDK's listings of both
 * buckets cut as an unsharded verify run cuts them and nothing else — bench/verify-floor.ts — so
 * floor ÷ rclone says what any verifier bound to the AWS SDK could reach here, and ours ÷ floor what is
 * left in s3-dr's own code; in job mode too it is the unsharded run's cut).
 * Writes bench/results/verify.json. No assertions: it reports, and the targets are judged by people.
 */
import { type ChildProcess, execFile, fork, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const REGION = 'us-east-1';
const CREDENTIALS = { id: 'bench', secret: 'bench' };

// ---------------------------------------------------------------- the planted differences

interface Plan {
  missing: number;
  mismatchedSameSize: number;
  mismatchedOtherSize: number;
  /** DR ETag differs by construction (as with SSE-KMS) but the recorded source ETag matches: ok after a HEAD. */
  recordedEtag: number;
  orphaned: number;
}
const PLAN: Plan = {
  missing: 100,
  mismatchedSameSize: 50,
  mismatchedOtherSize: 50,
  recordedEtag: 50,
  orphaned: 50,
};

/**
 * Keys spread over prefixes of 1,000 keys each (`tenant-000/` …): a bigger bucket has more prefixes, so
 * N = 10,000 and N = 100,000 list pages of the same size and compare memory at equal page shape.
 */
const KEYS_PER_PREFIX = Number(process.env.BENCH_KEYS_PER_PREFIX ?? 1000);
const keyOf = (i: number, n: number, keysPerPrefix: number) => {
  const prefixes = Math.max(1, Math.round(n / keysPerPrefix));
  return `tenant-${String(i % prefixes).padStart(3, '0')}/file-${String(i).padStart(7, '0')}.dat`;
};

/**
 * One pair of buckets the bench compares: N keys in prefixes of 1,000 (`grid`), or all N under one prefix
 * (`flat`: the layout where listing by prefix gives no parallelism, and the emulator's page cost is highest).
 */
interface BenchCase {
  n: number;
  layout: 'grid' | 'flat';
}
const keysPerPrefixOf = (c: BenchCase) => (c.layout === 'flat' ? c.n : KEYS_PER_PREFIX);
const bucketsOf = (c: BenchCase) => {
  const suffix = c.layout === 'flat' ? `${c.n}-flat` : `${c.n}`;
  return { source: `src-${suffix}`, dr: `dr-${suffix}` };
};
const caseName = (c: BenchCase) => `N=${c.n}${c.layout === 'flat' ? ' flat' : ''}`;
const bodyOf = (i: number, variant = 0) => Buffer.from(`object ${i} variant ${variant}`.padEnd(48, '.'));

// ---------------------------------------------------------------- role: emulator

interface S3StoreLike {
  createBucket(name: string): void;
  putObject(
    bucket: string,
    key: string,
    body: Buffer,
    contentType?: string,
    metadata?: Record<string, string>,
  ): { etag: string };
}

type EmulatorMessage =
  | { cmd: 'populate'; n: number; keysPerPrefix: number; source: string; dr: string }
  | { cmd: 'counts' }
  | { cmd: 'reset' }
  | { cmd: 'stop' };

function operation(method: string, url: string): string {
  const [path = '', query = ''] = url.split('?', 2);
  const onObject = path.split('/').filter(Boolean).length >= 2;
  if (method === 'GET' && !onObject) return new URLSearchParams(query).has('list-type') ? 'LIST' : 'LIST(v1)';
  if (method === 'HEAD' && onObject) return 'HEAD';
  if (method === 'GET' && onObject)
    return new URLSearchParams(query).has('attributes') ? 'ATTRIBUTES' : 'GET';
  return `${method}${onObject ? ' object' : ' bucket'}`;
}

async function emulatorRole(): Promise<void> {
  const { buildApp } = await import('fauxqs');
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  const [{ S3Store }, { SqsStore }, { SnsStore }] = await Promise.all([
    import(new URL('s3/s3Store.js', dist).href),
    import(new URL('sqs/sqsStore.js', dist).href),
    import(new URL('sns/snsStore.js', dist).href),
  ]);
  const s3Store = new S3Store() as S3StoreLike;
  const app = buildApp({
    logger: false,
    stores: { s3Store, sqsStore: new SqsStore(), snsStore: new SnsStore() } as never,
  });
  let counts: Record<string, number> = {};
  // The emulator's CPU time since the last reset: the share of a run's time that both tools pay alike.
  let cpuSince = process.cpuUsage();
  app.addHook('onRequest', (request, _reply, done) => {
    const op = operation(request.method, request.url);
    counts[op] = (counts[op] ?? 0) + 1;
    done();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const send = (message: unknown) => process.send?.(message);
  process.on('message', async (message: EmulatorMessage) => {
    switch (message.cmd) {
      case 'populate': {
        const { n, keysPerPrefix, source, dr } = message;
        s3Store.createBucket(source);
        s3Store.createBucket(dr);
        const step = Math.floor(
          n / (PLAN.missing + PLAN.mismatchedSameSize + PLAN.mismatchedOtherSize + PLAN.recordedEtag),
        );
        const kind = new Map<number, keyof Plan>();
        let slot = 0;
        for (const k of ['missing', 'mismatchedSameSize', 'mismatchedOtherSize', 'recordedEtag'] as const) {
          for (let j = 0; j < PLAN[k]; j++) kind.set(slot++ * step + 7, k);
        }
        for (let i = 0; i < n; i++) {
          const key = keyOf(i, n, keysPerPrefix);
          const { etag } = s3Store.putObject(source, key, bodyOf(i));
          switch (kind.get(i)) {
            case 'missing':
              break;
            case 'mismatchedSameSize':
              s3Store.putObject(dr, key, bodyOf(i, 1));
              break;
            case 'mismatchedOtherSize':
              s3Store.putObject(dr, key, Buffer.concat([bodyOf(i), Buffer.from('!')]));
              break;
            case 'recordedEtag':
              s3Store.putObject(dr, key, bodyOf(i, 2), undefined, {
                's3dr-source-etag': etag.replaceAll('"', ''),
              });
              break;
            default:
              s3Store.putObject(dr, key, bodyOf(i));
          }
        }
        for (let j = 0; j < PLAN.orphaned; j++) {
          s3Store.putObject(
            dr,
            keyOf(j * step + 11, n, keysPerPrefix).replace('/file-', '/orphan-'),
            bodyOf(j, 3),
          );
        }
        send({ done: 'populate' });
        break;
      }
      case 'counts': {
        const cpu = process.cpuUsage(cpuSince);
        send({ counts, cpuMs: (cpu.user + cpu.system) / 1000 });
        break;
      }
      case 'reset':
        counts = {};
        cpuSince = process.cpuUsage();
        send({ done: 'reset' });
        break;
      case 'stop':
        await app.close();
        process.exit(0);
    }
  });
  send({ port });
}

// ---------------------------------------------------------------- role: verifier

/**
 * A whole verify job as the deployed functions run it (BENCH_VERIFY_MODE=job): the verify function
 * starts it, then the job worker takes its messages — a planning step that lists the source to cut
 * shards of `verifyShardKeys` keys, then one message per shard, each a range with its own cursor,
 * ledger and lease — from an in-memory queue in place of SQS, as many at once as the job worker's
 * event source lets in (BENCH_JOB_CONCURRENCY, serverless.yml's jobMaxConcurrency: 10). Its report is
 * the job's final report.
 */
async function verifyJob(
  runtime: import('../functions/runtime.ts').Runtime,
  run: ReturnType<typeof import('../functions/handler.ts').invocation>,
  request: import('../lib/verify/payload.ts').VerifyRequest,
): Promise<unknown> {
  const { verifyJobDeps } = await import('../functions/runtime.ts');
  const { runVerifyMessage, startVerifyJob, verifyStatus } = await import('../lib/verify/job.ts');
  const { WorkQueue } = await import('../lib/core/work-queue.ts');
  type Message = import('../lib/jobs/model.ts').JobMessage;
  const pending = new WorkQueue<Message>();
  const jobQueue = {
    send: async (messages: Message[]) => pending.push(...messages),
  };
  const deps = verifyJobDeps({ ...runtime, jobQueue: () => jobQueue }, run);
  const { job } = await startVerifyJob(request, deps);
  const workers = Number(process.env.BENCH_JOB_CONCURRENCY ?? 10);
  await pending.drain(workers, async (message) => {
    // `busy` (another run holds the range): SQS would deliver it again later.
    if ((await runVerifyMessage(message, run.requestId, deps)) === 'busy') pending.push(message);
  });
  const status = await verifyStatus(job, deps);
  if (!status.report) throw new Error(`the verify job did not finish: ${status.summary}`);
  return status.report;
}

async function verifierRole(): Promise<void> {
  // BENCH_VERIFY_MODE=run (the default): one verify run over the whole scope (lib/verify/run.ts
  // verifySources), unsharded, as verify ran before it became a job: no function calls it any more, but
  // it is the figure the earlier results were measured on. `job`: the job, as deployed (verifyJob).
  const { createRuntime } = await import('../functions/runtime.ts');
  const { invocation } = await import('../functions/handler.ts');
  const { parseVerifyRequest } = await import('../lib/verify/payload.ts');
  const { verifySources } = await import('../lib/verify/run.ts');
  const { lambdaContext } = await import('../local/lambda-context.ts');
  const runtime = createRuntime();
  const run = invocation(lambdaContext('jobWorker', 900_000));
  // Heap and external (Buffer) memory sampled through the pass; the heap after a full GC is what the
  // verifier actually retains.
  let peakHeap = 0;
  let peakExternal = 0;
  const cpuBefore = process.cpuUsage();
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExternal = Math.max(peakExternal, m.external);
  }, 20);
  const started = performance.now();
  const request = parseVerifyRequest({ repair: false, graceSeconds: 0 }, runtime.config);
  const report =
    process.env.BENCH_VERIFY_MODE === 'job'
      ? await verifyJob(runtime, run, request)
      : await verifySources(request, {
          ...run,
          sourceStore: runtime.sourceStore,
          dr: runtime.dr,
          queue: () => runtime.queue(),
          settings: runtime.config,
        });
  const passMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(sampler);
  (globalThis as { gc?: () => void }).gc?.();
  const MiB = 2 ** 20;
  process.stdout.write(
    `${JSON.stringify({
      report,
      passMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssKb: process.resourceUsage().maxRSS,
      peakHeapMiB: peakHeap / MiB,
      peakExternalMiB: peakExternal / MiB,
      heapAfterGcMiB: process.memoryUsage().heapUsed / MiB,
    })}\n`,
  );
  process.exit(0);
}

// ---------------------------------------------------------------- role: floor

/**
 * The floor (bench/verify-floor.ts): the verifier's listings and nothing else, with the clients the
 * verifier gets (lib/aws/clients.ts, from the same environment), timed from the same point: after
 * modules and clients are made, the first request's set-up inside.
 */
async function floorRole(): Promise<void> {
  const { loadConfig } = await import('../lib/core/config.ts');
  const { createS3Clients } = await import('../lib/aws/clients.ts');
  const { drPrefixFor } = await import('../lib/core/key-mapping.ts');
  const { floorListing } = await import('./verify-floor.ts');
  const config = loadConfig();
  const clients = createS3Clients(config);
  const source = config.sourceBuckets[0] ?? '';
  // The verifier's pass is timed with a memory sampler running (process.memoryUsage every 20 ms, about
  // 1 % of its CPU in a profile): the floor runs the same one, so the difference is not the bench's.
  let peakHeap = 0;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 20);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const counts = await floorListing({
    client: clients.s3(config.sourceRegion),
    drClient: clients.s3(config.drRegion),
    source,
    dr: config.drBucket,
    drPrefix: drPrefixFor(config.keyLayout, source),
    concurrency: config.verifyConcurrency,
  });
  const passMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(sampler);
  process.stdout.write(
    `${JSON.stringify({ counts, passMs, cpuMs: (cpu.user + cpu.system) / 1000, peakHeapMiB: peakHeap / 2 ** 20 })}\n`,
  );
  process.exit(0);
}

// ---------------------------------------------------------------- role: main

interface VerifierRun {
  passMs: number;
  /** CPU time of the verifier process during the pass (all its threads: V8 collects garbage on helpers). */
  cpuMs: number;
  /** The whole verifier process: start, module load, the pass, exit. */
  processMs: number;
  maxRssMiB: number;
  peakHeapMiB: number;
  peakExternalMiB: number;
  heapAfterGcMiB: number;
  counts: Record<string, number>;
  requests: { list: number; head: number };
  emulatorRequests: Record<string, number>;
  /** CPU time the emulator spent serving this run (listing cost both tools share). */
  emulatorCpuMs: number;
}

/** One floor pass (bench/verify-floor.ts): the SDK listing both buckets as the verifier cuts them. */
interface FloorRun {
  passMs: number;
  cpuMs: number;
  keys: { source: number; dr: number };
  list: number;
  emulatorCpuMs: number;
}

interface RcloneRun {
  ms: number;
  exitCode: number;
  summary: string[];
  emulatorRequests: Record<string, number>;
  emulatorCpuMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

function ask<T>(child: ChildProcess, message: EmulatorMessage): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message);
  });
}

/**
 * Stops the emulator process. It answers `stop` by exiting, not by a message: waiting for a reply left
 * this process with an unsettled top-level await, so the bench exited with code 13 after its results.
 */
async function stopEmulator(emulator: ChildProcess): Promise<void> {
  if (emulator.exitCode === null && emulator.connected) {
    const exited = new Promise((resolve) => emulator.once('exit', resolve));
    emulator.send({ cmd: 'stop' });
    await exited;
  }
  emulator.kill();
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, env, maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function ensureRclone(): string {
  const found = spawnSync('rclone', ['version'], { encoding: 'utf8' });
  if (found.status === 0) return found.stdout.split('\n')[0] ?? 'rclone';
  process.stderr.write('rclone is not installed: apt-get install -y rclone …\n');
  const install = spawnSync('apt-get', ['install', '-y', 'rclone'], { stdio: 'inherit' });
  if (install.status !== 0)
    throw new Error('could not install rclone with apt-get (run as root, or install it yourself)');
  return spawnSync('rclone', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? 'rclone';
}

/** What one bench run compares, from its environment (see the top of this file). */
interface BenchSettings {
  n: number;
  smallN: number;
  repeat: number;
  concurrency: string;
  /** What a verifier pass is: one unsharded run, or a whole verify job as deployed (BENCH_VERIFY_MODE). */
  mode: 'run' | 'job';
  verifyNodeOptions: string;
  endpoint: string;
  /** bench/verify.ts of another checkout whose verifier runs in the same rounds (BENCH_VERIFY_BASELINE). */
  baseline?: string;
}

/** The verifier process's environment: the `verify` function's, pointed at one pair of buckets. */
const verifierEnv = (settings: BenchSettings, c: BenchCase): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  S3DR_SOURCE_BUCKETS: bucketsOf(c).source,
  S3DR_DR_BUCKET: bucketsOf(c).dr,
  S3DR_SOURCE_REGION: REGION,
  S3DR_DR_REGION: REGION,
  S3DR_ENDPOINT_URL: settings.endpoint,
  S3DR_FORCE_PATH_STYLE: 'true',
  S3DR_VERIFY_CONCURRENCY: settings.concurrency,
  BENCH_VERIFY_MODE: settings.mode,
  ...Object.fromEntries(
    ['BENCH_JOB_CONCURRENCY', 'S3DR_VERIFY_SHARD_KEYS'].flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name]]],
    ),
  ),
  AWS_ACCESS_KEY_ID: CREDENTIALS.id,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secret,
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  NODE_OPTIONS: settings.verifyNodeOptions,
});

/**
 * One full verifier pass in a fresh process, with what it and the emulator measured. `script` is this
 * file, or the same file in another checkout (BENCH_VERIFY_BASELINE): its verifier role runs that
 * checkout's code against the same emulator.
 */
async function verifierPass(
  emulator: ChildProcess,
  settings: BenchSettings,
  c: BenchCase,
  script = self,
): Promise<VerifierRun> {
  await ask(emulator, { cmd: 'reset' });
  const r = await run(
    process.execPath,
    [
      '--no-warnings',
      '--expose-gc',
      ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      script,
      '--verifier',
    ],
    verifierEnv(settings, c),
  );
  if (r.code !== 0) throw new Error(`verifier failed (${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  const { counts: emulatorRequests, cpuMs: emulatorCpuMs } = await ask<{
    counts: Record<string, number>;
    cpuMs: number;
  }>(emulator, { cmd: 'counts' });
  return {
    passMs: out.passMs,
    cpuMs: out.cpuMs,
    processMs: r.ms,
    maxRssMiB: out.maxRssKb / 1024,
    peakHeapMiB: out.peakHeapMiB,
    peakExternalMiB: out.peakExternalMiB,
    heapAfterGcMiB: out.heapAfterGcMiB,
    counts: out.report.counts,
    // As the emulator counted them: a job's report leaves out its planning step's LISTs.
    requests: { list: emulatorRequests.LIST ?? 0, head: emulatorRequests.HEAD ?? 0 },
    emulatorRequests,
    emulatorCpuMs,
  };
}

/** One floor pass in a fresh process, with the verifier's environment and Node options. */
async function floorPass(emulator: ChildProcess, settings: BenchSettings, c: BenchCase): Promise<FloorRun> {
  await ask(emulator, { cmd: 'reset' });
  const r = await run(
    process.execPath,
    ['--no-warnings', ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), self, '--floor'],
    verifierEnv(settings, c),
  );
  if (r.code !== 0) throw new Error(`floor failed (${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  const { cpuMs: emulatorCpuMs } = await ask<{ cpuMs: number }>(emulator, { cmd: 'counts' });
  return {
    passMs: out.passMs,
    cpuMs: out.cpuMs,
    keys: { source: out.counts.sourceKeys, dr: out.counts.drKeys },
    list: out.counts.lists,
    emulatorCpuMs,
  };
}

/** One `rclone check` of the same pair of buckets, with the requests the emulator served it. */
async function rcloneCheck(emulator: ChildProcess, endpoint: string, c: BenchCase): Promise<RcloneRun> {
  const rcloneEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: CREDENTIALS.id,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: CREDENTIALS.secret,
    RCLONE_CONFIG_BENCH_REGION: REGION,
    // AWS_CA_BUNDLE is deliberately absent: rclone fails to load one here.
  };
  await ask(emulator, { cmd: 'reset' });
  // The verifier's own cursor and reports live under .s3dr/ in the DR bucket.
  const { source, dr } = bucketsOf(c);
  const r = await run(
    'rclone',
    ['check', `bench:${source}`, `bench:${dr}`, '--exclude', '.s3dr/**'],
    rcloneEnv,
  );
  const { counts: emulatorRequests, cpuMs: emulatorCpuMs } = await ask<{
    counts: Record<string, number>;
    cpuMs: number;
  }>(emulator, { cmd: 'counts' });
  const summary = r.stderr
    .split('\n')
    .filter((l) => /differences found|files missing|matching files|hashes could not be checked/.test(l))
    .map((l) => l.replace(/^.*?(NOTICE|ERROR): /, ''));
  return { ms: r.ms, exitCode: r.code, summary, emulatorRequests, emulatorCpuMs };
}

interface Runs {
  verifier: VerifierRun[];
  rclone: RcloneRun[];
  /** The BENCH_VERIFY_BASELINE checkout's verifier, run in the same rounds. */
  baseline: VerifierRun[];
  /** The SDK's listings alone, in the same rounds (BENCH_FLOOR=0: none). */
  floor: FloorRun[];
}

/**
 * Runs every tool `repeat` times on each case, alternating within each round (verifier, rclone, then the
 * baseline verifier if any), so all of them see the same machine load; logs each run.
 */
async function measure(
  emulator: ChildProcess,
  settings: BenchSettings,
  cases: BenchCase[],
  log: (line: string) => void,
): Promise<Runs[]> {
  const results: Runs[] = [];
  for (const c of cases) {
    const runs: Runs = { verifier: [], rclone: [], baseline: [], floor: [] };
    results.push(runs);
    const name = caseName(c);
    for (let i = 0; i < settings.repeat; i++) {
      const v = await verifierPass(emulator, settings, c);
      runs.verifier.push(v);
      log(
        `${name} verifier pass ${i + 1}: ${v.passMs.toFixed(0)} ms, CPU ${v.cpuMs.toFixed(0)} ms, emulator CPU ${v.emulatorCpuMs.toFixed(0)} ms, peak RSS ${v.maxRssMiB.toFixed(0)} MiB, ${v.requests.list} LIST, ${v.requests.head} HEAD`,
      );
      if (process.env.BENCH_RCLONE !== '0') {
        const r = await rcloneCheck(emulator, settings.endpoint, c);
        runs.rclone.push(r);
        log(
          `${name} rclone check ${i + 1}: ${r.ms.toFixed(0)} ms, emulator CPU ${r.emulatorCpuMs.toFixed(0)} ms (exit ${r.exitCode}) ${r.summary.join('; ')}`,
        );
      }
      if (process.env.BENCH_FLOOR !== '0') {
        const f = await floorPass(emulator, settings, c);
        runs.floor.push(f);
        log(
          `${name} floor (SDK listings only) ${i + 1}: ${f.passMs.toFixed(0)} ms, CPU ${f.cpuMs.toFixed(0)} ms, emulator CPU ${f.emulatorCpuMs.toFixed(0)} ms, ${f.list} LIST, ${f.keys.source}/${f.keys.dr} keys`,
        );
      }
      if (settings.baseline) {
        const b = await verifierPass(emulator, settings, c, settings.baseline);
        runs.baseline.push(b);
        log(`${name} baseline verifier pass ${i + 1}: ${b.passMs.toFixed(0)} ms, ${b.requests.list} LIST`);
      }
    }
  }
  return results;
}

/**
 * One case's figures: best times (other work on a shared machine only adds time) and medians — of the
 * times, and of each round's verifier ÷ rclone ratio — and median memory and CPU.
 */
function summarise(c: BenchCase, { verifier, rclone, baseline, floor }: Runs) {
  const size = c.n;
  const first = verifier[0]!;
  const verifyMs = Math.min(...verifier.map((v) => v.passMs));
  const rcloneMs = rclone.length > 0 ? Math.min(...rclone.map((r) => r.ms)) : Number.NaN;
  const listPerBucket = first.requests.list / 2;
  const speedups = (runs: VerifierRun[]) => runs.map((v, i) => (rclone[i]?.ms ?? Number.NaN) / v.passMs);
  return {
    n: size,
    layout: c.layout,
    verifyPassMs: Math.round(verifyMs),
    verifyProcessMs: Math.round(Math.min(...verifier.map((v) => v.processMs))),
    verifyPassMedianMs: Math.round(median(verifier.map((v) => v.passMs))),
    rcloneCheckMedianMs: rclone.length > 0 ? Math.round(median(rclone.map((r) => r.ms))) : Number.NaN,
    rcloneCheckMs: Math.round(rcloneMs),
    speedupVsRclone: Number((rcloneMs / verifyMs).toFixed(2)),
    /** The median over rounds of rclone ÷ verifier, each round's two runs made back to back. */
    speedupVsRcloneMedian: Number(median(speedups(verifier)).toFixed(2)),
    ...(baseline.length > 0
      ? {
          baseline: {
            verifyPassMs: Math.round(Math.min(...baseline.map((v) => v.passMs))),
            verifyPassMedianMs: Math.round(median(baseline.map((v) => v.passMs))),
            speedupVsRcloneMedian: Number(median(speedups(baseline)).toFixed(2)),
            listPerBucket: baseline[0]!.requests.list / 2,
            verifierPeakRssMiB: Number(median(baseline.map((v) => v.maxRssMiB)).toFixed(1)),
            verifierCpuMsPer1000Keys: Number(
              ((1000 * median(baseline.map((v) => v.cpuMs))) / size).toFixed(1),
            ),
            counts: baseline[0]!.counts,
            runs: baseline.map((v) => Math.round(v.passMs)),
          },
        }
      : {}),
    ...(floor.length > 0 ? { floor: floorSummary(size, floor, verifier, rclone) } : {}),
    verifierPeakRssMiB: Number(median(verifier.map((v) => v.maxRssMiB)).toFixed(1)),
    verifierPeakHeapMiB: Number(median(verifier.map((v) => v.peakHeapMiB)).toFixed(1)),
    verifierPeakExternalMiB: Number(median(verifier.map((v) => v.peakExternalMiB)).toFixed(1)),
    verifierHeapAfterGcMiB: Number(median(verifier.map((v) => v.heapAfterGcMiB)).toFixed(1)),
    verifierCpuMsPer1000Keys: Number(((1000 * median(verifier.map((v) => v.cpuMs))) / size).toFixed(1)),
    /** The emulator's CPU while serving each tool (median): listing cost that both pay. */
    emulatorCpuMsVerifier: Math.round(median(verifier.map((v) => v.emulatorCpuMs))),
    emulatorCpuMsRclone:
      rclone.length > 0 ? Math.round(median(rclone.map((r) => r.emulatorCpuMs))) : Number.NaN,
    counts: first.counts,
    verifierRequests: first.emulatorRequests,
    listPerBucket,
    listPer1000KeysPerBucket: Number(((1000 * listPerBucket) / size).toFixed(3)),
    heads: first.requests.head,
    rcloneRequests: rclone[0]?.emulatorRequests ?? {},
    rcloneSummary: rclone[0]?.summary ?? [],
    runs: {
      verifyPassMs: verifier.map((v) => Math.round(v.passMs)),
      rcloneCheckMs: rclone.map((r) => Math.round(r.ms)),
    },
  };
}

/**
 * The floor's figures beside ours: its time and its ratio to rclone check (the best any SDK-based
 * verifier could reach here), and ours ÷ floor (what is left in s3-dr's own code), each round's runs made
 * back to back and the median taken, as for the verifier.
 */
function floorSummary(size: number, floor: FloorRun[], verifier: VerifierRun[], rclone: RcloneRun[]) {
  return {
    passMs: Math.round(Math.min(...floor.map((f) => f.passMs))),
    passMedianMs: Math.round(median(floor.map((f) => f.passMs))),
    speedupVsRcloneMedian: Number(
      median(floor.map((f, i) => (rclone[i]?.ms ?? Number.NaN) / f.passMs)).toFixed(2),
    ),
    /** Our pass ÷ the floor's, per round: 1.15 means s3-dr's own code adds 15 % to the SDK's listings. */
    verifierOverFloorMedian: Number(
      median(floor.map((f, i) => (verifier[i]?.passMs ?? Number.NaN) / f.passMs)).toFixed(2),
    ),
    cpuMsPer1000Keys: Number(((1000 * median(floor.map((f) => f.cpuMs))) / size).toFixed(1)),
    emulatorCpuMs: Math.round(median(floor.map((f) => f.emulatorCpuMs))),
    listPerBucket: floor[0]!.list / 2,
    keys: floor[0]!.keys,
    runs: floor.map((f) => Math.round(f.passMs)),
  };
}

type SizeSummary = ReturnType<typeof summarise>;

/** bench/results/verify.json: the machine, the layout, every case's figures and the issue's targets. */
async function benchResult(settings: BenchSettings, all: SizeSummary[], rcloneVersion: string) {
  const { n, smallN } = settings;
  const grid = all.filter((s) => s.layout === 'grid');
  const small = grid.find((s) => s.n === smallN) ?? grid[0]!;
  const big = grid.find((s) => s.n === n) ?? grid.at(-1)!;
  const flat = all.find((s) => s.layout === 'flat');
  const largest = grid.at(-1)!;
  // Same-size keys with other ETags (DR copy), and keys missing from DR (source: archived or SSE-C?).
  const expectedHeads = PLAN.mismatchedSameSize + PLAN.recordedEtag + PLAN.missing;
  return {
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      loadAverage: (await import('node:os')).loadavg().map((l) => Number(l.toFixed(1))),
      rclone: rcloneVersion,
    },
    layout: `grid: N / ${KEYS_PER_PREFIX} prefixes of ${KEYS_PER_PREFIX} keys (tenant-000/ …), keys spread round-robin; flat: all N keys under tenant-000/; bodies 48 B`,
    planted: PLAN,
    concurrency: Number(settings.concurrency),
    mode: settings.mode,
    verifierNodeOptions: settings.verifyNodeOptions,
    repeat: settings.repeat,
    ...(settings.baseline ? { baseline: settings.baseline } : {}),
    sizes: all,
    targets: {
      atLeastAsFastAsRclone: big.speedupVsRclone >= 1,
      // Issue #16: at least 1.5 × rclone check at N in both layouts, and at least as fast at N / 10.
      speedupMedianAtN: big.speedupVsRcloneMedian,
      ...(flat ? { speedupMedianAtNFlat: flat.speedupVsRcloneMedian } : {}),
      speedupMedianAtSmallN: small.speedupVsRcloneMedian,
      // What the SDK's listings alone reach on the same cases: a target the floor misses is out of reach
      // for any verifier bound to the SDK on this machine.
      ...(big.floor
        ? {
            floorSpeedupMedianAtN: big.floor.speedupVsRcloneMedian,
            ...(flat?.floor ? { floorSpeedupMedianAtNFlat: flat.floor.speedupVsRcloneMedian } : {}),
            floorSpeedupMedianAtSmallN: small.floor?.speedupVsRcloneMedian,
          }
        : {}),
      peakRssRatioLargeToSmall: Number((big.verifierPeakRssMiB / small.verifierPeakRssMiB).toFixed(3)),
      peakRssWithin20Percent: big.verifierPeakRssMiB <= 1.2 * small.verifierPeakRssMiB,
      ...(largest.n > n
        ? {
            [`peakRssRatio${largest.n}To${n}`]: Number(
              (largest.verifierPeakRssMiB / big.verifierPeakRssMiB).toFixed(3),
            ),
          }
        : {}),
      listPer1000KeysPerBucket: big.listPer1000KeysPerBucket,
      headsOnlyForEtagDifferences: all.every((s) => s.heads === expectedHeads),
      expectedHeads,
    },
  };
}

/** The table and the targets line people read on stdout. */
function report(
  settings: BenchSettings,
  result: Awaited<ReturnType<typeof benchResult>>,
  rcloneVersion: string,
) {
  const rows = result.sizes.map(
    (s) =>
      `| ${`${s.n}${s.layout === 'flat' ? ' flat' : ''}`.padStart(12)} | ${String(s.verifyPassMedianMs).padStart(9)} | ${String(s.rcloneCheckMedianMs).padStart(9)} | ${s.speedupVsRcloneMedian.toFixed(2).padStart(6)} | ${(s.floor ? `${s.floor.passMedianMs} (${s.floor.speedupVsRcloneMedian.toFixed(2)})` : '-').padStart(16)} | ${(s.floor ? s.floor.verifierOverFloorMedian.toFixed(2) : '-').padStart(6)} | ${(s.baseline ? `${s.baseline.verifyPassMedianMs} (${s.baseline.speedupVsRcloneMedian.toFixed(2)})` : '-').padStart(16)} | ${s.verifierPeakRssMiB.toFixed(0).padStart(7)} | ${`${s.verifierPeakHeapMiB.toFixed(0)}/${s.verifierPeakExternalMiB.toFixed(0)}/${s.verifierHeapAfterGcMiB.toFixed(0)}`.padStart(12)} | ${s.verifierCpuMsPer1000Keys.toFixed(0).padStart(9)} | ${String(s.listPerBucket).padStart(8)} | ${String(s.heads).padStart(4)} | ${`${s.counts.missing}/${s.counts.mismatched}/${s.counts.orphaned}`.padStart(12)} |`,
  );
  const { targets } = result;
  return [
    '',
    `verify bench — ${settings.mode === 'job' ? 'a verify job as deployed' : 'one unsharded run'}, concurrency ${settings.concurrency}, NODE_OPTIONS "${settings.verifyNodeOptions}", medians of ${settings.repeat} rounds, ${rcloneVersion}`,
    '|            N | verify ms | rclone ms | ratio  | floor (ratio)    | ÷floor | baseline (ratio) | RSS MiB | heap/ext/GC  | CPU ms/1k | LIST/bkt | HEAD | miss/mis/orp |',
    '|--------------|-----------|-----------|--------|------------------|--------|------------------|---------|--------------|-----------|----------|------|--------------|',
    ...rows,
    '',
    `targets: × rclone at N ${targets.speedupMedianAtN} (≥ 1.5), flat ${targets.speedupMedianAtNFlat ?? '-'} (≥ 1.5), at N/10 ${targets.speedupMedianAtSmallN} (≥ 1.0); ` +
      `floor (SDK listings alone) × rclone at N ${targets.floorSpeedupMedianAtN ?? '-'}, flat ${targets.floorSpeedupMedianAtNFlat ?? '-'}, at N/10 ${targets.floorSpeedupMedianAtSmallN ?? '-'}; ` +
      `RSS ratio ${targets.peakRssRatioLargeToSmall} (≤ 1.2: ${targets.peakRssWithin20Percent ? 'yes' : 'NO'}); ` +
      `${targets.listPer1000KeysPerBucket} LIST per 1,000 keys per bucket; HEADs only for ETag differences: ${targets.headsOnlyForEtagDifferences ? 'yes' : 'NO'} (${targets.expectedHeads})`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_N ?? 100_000);
  const rcloneVersion = ensureRclone();
  const { loadLocalSettings } = await import('../local/settings.ts');
  const verifyNodeOptions =
    process.env.BENCH_VERIFY_NODE_OPTIONS ??
    (await loadLocalSettings()).functionEnv.jobWorker?.NODE_OPTIONS ??
    '';

  const emulator = fork(self, ['--emulator'], {
    execArgv: ['--no-warnings', ...(process.env.BENCH_EMULATOR_FLAGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { port } = await new Promise<{ port: number }>((resolve) =>
    emulator.once('message', (m) => resolve(m as { port: number })),
  );
  const baseline = process.env.BENCH_VERIFY_BASELINE;
  const settings: BenchSettings = {
    n,
    smallN: Number(process.env.BENCH_SMALL_N ?? Math.round(n / 10)),
    repeat: Number(process.env.BENCH_REPEAT ?? 5),
    concurrency: process.env.S3DR_VERIFY_CONCURRENCY ?? '8',
    mode: process.env.BENCH_VERIFY_MODE === 'job' ? 'job' : 'run',
    verifyNodeOptions,
    endpoint: `http://127.0.0.1:${port}`,
    ...(baseline
      ? { baseline: fileURLToPath(new URL('bench/verify.ts', `file://${resolve(baseline)}/`)) }
      : {}),
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);

  try {
    const extra = (process.env.BENCH_EXTRA_N ?? '').split(',').filter(Boolean).map(Number);
    const sizes = [...new Set([settings.smallN, n, ...extra])].sort((a, b) => a - b);
    const cases: BenchCase[] = [
      ...sizes.map((size) => ({ n: size, layout: 'grid' as const })),
      ...(process.env.BENCH_FLAT === '0' ? [] : [{ n, layout: 'flat' as const }]),
    ];
    for (const c of cases) {
      const t = performance.now();
      await ask(emulator, { cmd: 'populate', n: c.n, keysPerPrefix: keysPerPrefixOf(c), ...bucketsOf(c) });
      log(`populated ${caseName(c)} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const results = await measure(emulator, settings, cases, log);
    const all = cases.map((c, i) => summarise(c, results[i]!));
    const result = await benchResult(settings, all, rcloneVersion);
    process.stdout.write(report(settings, result, rcloneVersion));
    const out =
      process.env.BENCH_VERIFY_OUT ??
      fileURLToPath(
        new URL(settings.mode === 'job' ? 'results/verify-job.json' : 'results/verify.json', import.meta.url),
      );
    if (out !== '-') {
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    }
  } finally {
    await stopEmulator(emulator);
  }
}

const role = process.argv[2];
if (role === '--emulator') await emulatorRole();
else if (role === '--verifier') await verifierRole();
else if (role === '--floor') await floorRole();
else await main();
