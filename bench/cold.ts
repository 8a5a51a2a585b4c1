/**
 * `npm run bench:cold`: cold-start cost of each packaged function, as Lambda would load it.
 *
 * 1. `sls package --stage dev` offline into a temporary folder (its own esbuild work folder, as the tests
 *    run it: tests/helpers/template.ts).
 * 2. Each function's artifact (`<function>.zip`) is unzipped; its environment is the Lambda's
 *    Environment.Variables from the packaged template, intrinsics resolved to plausible literals.
 * 3. For each function, BENCH_COLD_RUNS (default 7) fresh Node processes (the Node running this script:
 *    22, under npm) with exactly that environment (NODE_OPTIONS included, as the Lambda runtime applies it)
 *    time `require(bundle)` — which runs the handler module's init: config, clients, logger, metrics —
 *    and check that it exports `handler`.
 * 4. Each function's floor (bench/cold-floor.ts): a bundle built with the same esbuild options and plugins
 *    holding only the mandated dependencies the function uses (its SDK clients, Powertools Logger and
 *    Metrics, Batch for SQS-invoked functions, middy), constructed at load, timed in the function's
 *    environment in the same rounds. "ours = init − floor" is the part of the cold start s3-dr's own
 *    code and choices add.
 * 5. The same number of fresh processes require a fixed synthetic module (`calibration`): a figure of the
 *    machine, not of s3-dr, so that `npm run bench:compare` can judge init times as ratios to it.
 *
 * Why `require` is the figure: Lambda runs a function's module-level code in the INIT phase, before the
 * first invocation, and that code (imports, clients) is the part of a cold start the function controls;
 * AWS's advice is a smaller deployment package and less work at initialisation (AWS Lambda Operator
 * Guide, "Static initialization", serverlessland.com/content/service/lambda/guides/aws-lambda-operator-guide/static-initialization;
 * AWS re:Post Knowledge Center, "lambda-cold-start", repost.aws/knowledge-center/lambda-cold-start).
 * What this does not measure: the download and unzip of the artifact and the runtime's own bootstrap.
 *
 * Reports per function: init ms (median, min, max), the CPU ms of the same requires, the floor's
 * init and CPU ms and ours, zipped KB, unzipped KB (everything in the zip, the
 * bundle's source map included) and the bundle alone. Writes bench/results/cold.json unless
 * BENCH_COLD_OUT names another file ('-' = write nothing). 1 KB = 1,000 bytes (as Lambda's quotas count).
 *
 * BENCH_COLD_BASELINE=<commit>: also packages that commit (`git archive`, with this checkout's
 * node_modules) and times its bundles in the same rounds, for a before/after taken in the same minutes.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runProcess } from '../tests/helpers/run-process.ts';
import { root, runSls } from '../tests/helpers/template.ts';
import { buildFloor, type FloorParts, floorPartsOf, slsBuildOptions } from './cold-floor.ts';
import { median } from './compare-results.ts';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 7);
const OUT = process.env.BENCH_COLD_OUT ?? join(root, 'bench/results/cold.json');
const BASELINE = process.env.BENCH_COLD_BASELINE;
/** A bound on one child process, only so that a hung load cannot hang the benchmark. */
const CHILD_TIMEOUT_MS = 60_000;

/** Values for the intrinsics a function environment may hold (the dev stage, as `npm run package`). */
const PSEUDO: Record<string, string> = {
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 's3-dr-dev',
};

/** A literal for an environment value: Fn::Sub, Fn::Join, Ref and Fn::GetAtt resolved plausibly. */
function resolveIntrinsic(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const [fn, arg] = Object.entries(value)[0] ?? [];
    if (fn === 'Ref' && typeof arg === 'string') return PSEUDO[arg] ?? `${arg}-ref`;
    if (fn === 'Fn::GetAtt') {
      const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
      return `arn:aws:sqs:${PSEUDO['AWS::Region']}:${PSEUDO['AWS::AccountId']}:${id}-${attr}`;
    }
    if (fn === 'Fn::Join' && Array.isArray(arg)) {
      const [sep, parts] = arg as [string, unknown[]];
      return parts.map(resolveIntrinsic).join(sep);
    }
    if (fn === 'Fn::Sub') {
      const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) =>
        name in vars ? resolveIntrinsic(vars[name]) : (PSEUDO[name] ?? `${name}-ref`),
      );
    }
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)} to a literal`);
}

/** One timed `require`: wall-clock ms (the figure Lambda's Init Duration is) and the CPU ms it used. */
interface Timing {
  ms: number;
  cpuMs: number;
}

/**
 * Times one fresh process requiring `file`; the child prints the milliseconds `require` took. The clock
 * starts after Node's own bootstrap (what Lambda's runtime does before it loads the handler is not the
 * function's), so the figure is exactly loading, compiling and running the bundle's module code.
 * The CPU time of the same span is the steadier figure on a busy machine: waiting for a core inflates
 * the wall clock but not the CPU time (it still includes V8's helper threads: compile, GC).
 */
async function timeRequire(file: string, env: Record<string, string>): Promise<Timing> {
  const script = [
    "const { performance } = require('node:perf_hooks');",
    'const cpu = process.cpuUsage();',
    'const started = performance.now();',
    'const loaded = require(process.argv[1]);',
    'const ms = performance.now() - started;',
    'const used = process.cpuUsage(cpu);',
    "if (typeof loaded.handler !== 'function') throw new Error(process.argv[1] + ' exports no handler');",
    'process.stdout.write(JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000 }));',
  ].join('\n');
  // A kill at the bound says "timed out after N s", a failure its stderr (tests/helpers/run-process.ts).
  const { stdout } = await runProcess(process.execPath, ['-e', script, file], {
    env,
    timeoutMs: CHILD_TIMEOUT_MS,
  });
  return JSON.parse(stdout) as Timing;
}

/** The environment Lambda's Node.js runtime gives a function besides its own variables. */
function lambdaEnv(fn: string, memory: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: PSEUDO['AWS::Region']!,
    AWS_DEFAULT_REGION: PSEUDO['AWS::Region']!,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: fn,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]0000',
    // Credentials as the runtime sets them for the function's role (dummy: nothing is sent).
    AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'example',
    AWS_SESSION_TOKEN: 'example',
  };
}

/** A fixed module of plain JavaScript, about the size of a handler bundle, for the calibration figure. */
function calibrationModule(): string {
  const lines = ['"use strict";', 'const table = {};'];
  for (let i = 0; i < 4000; i++) {
    lines.push(
      `table.f${i} = function f${i}(a, b) { const o = { k: 'v${i}', n: a + ${i} }; return b ? [o, a * ${i % 97}] : o.k + String(o.n); };`,
    );
  }
  lines.push('for (const f of Object.values(table)) f(1, true);', 'exports.handler = () => table;');
  return lines.join('\n');
}

export interface ColdFunction {
  initMs: number;
  initMsRuns: number[];
  /** CPU time of the same `require`s (median, and each run). */
  cpuMs?: number;
  cpuMsRuns?: number[];
  zippedKB: number;
  unzippedKB: number;
  bundleKB: number;
  /**
   * The same figures for the function's floor (bench/cold-floor.ts): a bundle of only the mandated
   * dependencies it uses, built and timed the same way in the same rounds; `oursMs` = initMs − floor.
   */
  floor?: FloorFigures;
  oursMs?: number;
  oursCpuMs?: number;
}

export interface FloorFigures extends FloorParts {
  initMs: number;
  initMsRuns: number[];
  cpuMs: number;
  cpuMsRuns: number[];
  bundleKB: number;
}

export interface ColdResult {
  date: string;
  machine: { cpus: number; node: string; loadAverageAtStart: number[] };
  runs: number;
  calibrationMs: number;
  calibrationMsRuns: number[];
  functions: Record<string, ColdFunction>;
  /** BENCH_COLD_BASELINE: the same figures for another commit, measured in the same minutes. */
  baseline?: { ref: string; functions: Record<string, ColdFunction> };
}

const kb = (bytes: number) => Math.round(bytes / 100) / 10;

interface Measured {
  name: string;
  /** The handler's source, relative to the project (`functions/ingest.ts`). */
  entry: string;
  /** Whether an SQS event source mapping invokes it (with batches, which Powertools' Batch processes). */
  sqsBatches?: boolean;
  bundle: string;
  env: Record<string, string>;
  figures: ColdFunction;
}

/** The logical ids of the functions an event source mapping invokes (all of s3-dr's read SQS queues). */
function sqsTriggered(resources: Record<string, { Type: string; Properties: Record<string, unknown> }>) {
  const ids = new Set<string>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const target = r.Properties.FunctionName as { 'Fn::GetAtt'?: unknown } | undefined;
    const getAtt = target?.['Fn::GetAtt'];
    if (Array.isArray(getAtt)) ids.add(String(getAtt[0]));
  }
  return ids;
}

/** `sls package` of the project in `projectDir`, each function unzipped under `dir`; sizes measured. */
async function packageFunctions(projectDir: string, dir: string): Promise<Measured[]> {
  const workFolder = join(projectDir, `.esbuild/cold-${process.pid}-${randomUUID()}`);
  try {
    const packaged = await runSls(
      ['package', '--stage', 'dev', '--package', join(dir, 'pkg')],
      undefined,
      { S3DR_ESBUILD_WORK_FOLDER: workFolder },
      projectDir,
    );
    if (packaged.code !== 0) {
      throw new Error(`sls package failed (${packaged.code}):\n${packaged.stdout}\n${packaged.stderr}`);
    }
  } finally {
    await rm(workFolder, { recursive: true, force: true });
  }
  const template = JSON.parse(
    await readFile(join(dir, 'pkg/cloudformation-template-update-stack.json'), 'utf8'),
  ) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  // s3-dr's own functions (functions/*.ts), not the framework's custom resource for existing buckets.
  const lambdas = Object.entries(template.Resources).filter(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Handler).startsWith('functions/'),
  );
  const batches = sqsTriggered(template.Resources);
  const measured: Measured[] = [];
  for (const [id, lambda] of lambdas) {
    const p = lambda.Properties;
    const fullName = String(p.FunctionName);
    const name = fullName.replace(/^s3-dr-dev-/, '');
    // The artifact is named after the function's key in serverless.yml (`jobWorker.zip`), which the
    // deployed name need not contain (`s3-dr-dev-primary-job-worker`): take it from the template.
    const artifact = String((p.Code as { S3Key?: unknown } | undefined)?.S3Key ?? `${name}.zip`);
    const zip = join(dir, 'pkg', artifact.slice(artifact.lastIndexOf('/') + 1));
    const out = join(dir, name);
    await run('unzip', ['-q', zip, '-d', out]);
    const handlerPath = String(p.Handler).replace(/\.handler$/, '');
    const bundle = join(out, `${handlerPath}.cjs`);
    const variables = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
      {}) as Record<string, unknown>;
    const env = lambdaEnv(fullName, Number(p.MemorySize ?? 128));
    for (const [k, v] of Object.entries(variables)) env[k] = resolveIntrinsic(v);
    const files = await readdir(out, { recursive: true, withFileTypes: true });
    let unzipped = 0;
    for (const f of files) if (f.isFile()) unzipped += (await stat(join(f.parentPath, f.name))).size;
    measured.push({
      name,
      entry: `${handlerPath}.ts`,
      sqsBatches: batches.has(id),
      bundle,
      env,
      figures: {
        initMs: 0,
        initMsRuns: [],
        cpuMs: 0,
        cpuMsRuns: [],
        zippedKB: kb((await stat(zip)).size),
        unzippedKB: kb(unzipped),
        bundleKB: kb((await stat(bundle)).size),
      },
    });
  }
  return measured;
}

/** The tree of a commit, with this checkout's node_modules, to package as the baseline. */
async function checkoutBaseline(ref: string, dir: string): Promise<string> {
  const tree = join(dir, 'tree');
  await mkdir(tree, { recursive: true });
  const archive = join(dir, 'baseline.tar');
  await run('git', ['-C', root, 'archive', '--output', archive, ref]);
  await run('tar', ['-x', '-f', archive, '-C', tree]);
  await symlink(join(root, 'node_modules'), join(tree, 'node_modules'));
  return tree;
}

const round = (ms: number) => Math.round(ms * 10) / 10;
const medians = (m: Measured) => {
  const runs = m.figures.initMsRuns.map(round);
  const cpu = (m.figures.cpuMsRuns ?? []).map(round);
  return { initMsRuns: runs, initMs: round(median(runs)), cpuMsRuns: cpu, cpuMs: round(median(cpu)) };
};
const finish = (measured: Measured[], floors = new Map<string, Floor>()): Record<string, ColdFunction> => {
  const out: Record<string, ColdFunction> = {};
  for (const m of measured) {
    const f: ColdFunction = { ...m.figures, ...medians(m) };
    const floor = floors.get(m.name);
    if (floor) {
      f.floor = { ...floor.parts, ...medians(floor.measured), bundleKB: floor.measured.figures.bundleKB };
      f.oursMs = round(f.initMs - f.floor.initMs);
      f.oursCpuMs = round((f.cpuMs ?? 0) - f.floor.cpuMs);
    }
    out[m.name] = f;
  }
  return out;
};

/** A function's floor bundle (bench/cold-floor.ts), measured like the function. */
interface Floor {
  parts: FloorParts;
  measured: Measured;
}

/** Builds each packaged function's floor with the project's esbuild options, in the function's environment. */
async function buildFloors(measured: Measured[], dir: string): Promise<Map<string, Floor>> {
  const options = await slsBuildOptions(root);
  const floors = new Map<string, Floor>();
  for (const m of measured) {
    const outfile = join(dir, 'metafile', m.name, 'entry.cjs');
    const parts = await floorPartsOf(options, m.entry, outfile, m.sqsBatches === true);
    const bundle = join(dir, 'floor', m.name, 'floor.cjs');
    await buildFloor(options, parts, bundle);
    const bundleKB = kb((await stat(bundle)).size);
    const figures: ColdFunction = {
      initMs: 0,
      initMsRuns: [],
      cpuMs: 0,
      cpuMsRuns: [],
      zippedKB: 0,
      unzippedKB: 0,
      bundleKB,
    };
    floors.set(m.name, { parts, measured: { name: m.name, entry: 'floor', bundle, env: m.env, figures } });
  }
  return floors;
}

/** The printed table: each function's init and CPU beside its floor's, sizes. */
function table(result: ColdResult): string[] {
  const rows = Object.entries(result.functions).map(([name, f]) => {
    const floor = f.floor
      ? `${f.floor.initMs} | ${f.oursMs} | ${f.floor.cpuMs} | ${f.oursCpuMs} | ${f.floor.bundleKB} (${[...f.floor.clients, ...(f.floor.batch ? ['batch'] : [])].join('+')})`
      : '– | – | – | – | –';
    return `| ${name} | ${f.initMs} (${Math.min(...f.initMsRuns)}–${Math.max(...f.initMsRuns)}) | ${f.cpuMs} | ${floor} | ${f.zippedKB} | ${f.unzippedKB} | ${f.bundleKB} |`;
  });
  return [
    `\nNode ${result.machine.node}, ${result.machine.cpus} CPUs, load average at start ${result.machine.loadAverageAtStart.join(' ')}; median of ${result.runs} fresh processes`,
    '| function | init ms, median (min–max) | CPU ms, median | floor init ms | ours = init − floor, ms | floor CPU ms | ours CPU ms | floor bundle KB (clients) | zipped KB | unzipped KB | bundle KB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    `calibration (fixed synthetic module): ${result.calibrationMs} ms`,
    '',
  ];
}

/** The before → after table against BENCH_COLD_BASELINE. */
function baselineTable(
  ref: string,
  before: Record<string, ColdFunction>,
  after: Record<string, ColdFunction>,
) {
  return [
    `baseline ${ref}, measured in the same rounds:`,
    '| function | init ms before → after (median) | CPU ms before → after | zipped KB before → after | unzipped KB before → after |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...Object.entries(after).map(([name, f]) => {
      const b = before[name];
      return b
        ? `| ${name} | ${b.initMs} → ${f.initMs} | ${b.cpuMs} → ${f.cpuMs} | ${b.zippedKB} → ${f.zippedKB} | ${b.unzippedKB} → ${f.unzippedKB} |`
        : `| ${name} | (not in the baseline) → ${f.initMs} | → ${f.cpuMs} | → ${f.zippedKB} | → ${f.unzippedKB} |`;
    }),
    '',
  ];
}

/**
 * Interleaved rounds (function A, B, …, their floors, the baseline's, calibration, then again), so a burst
 * of load elsewhere on the machine spreads over every figure instead of inflating one function's.
 */
async function measureRounds(all: Measured[], calibrationFile: string): Promise<number[]> {
  const calibrationMsRuns: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Every other round in reverse order: a position in the round (first after the previous round's
    // calibration, or last) is not always the same bundle's, so no function gains from where it stands.
    for (const m of i % 2 === 0 ? all : [...all].reverse()) {
      const timing = await timeRequire(m.bundle, m.env);
      m.figures.initMsRuns.push(timing.ms);
      m.figures.cpuMsRuns?.push(timing.cpuMs);
    }
    const calibration = await timeRequire(calibrationFile, { PATH: process.env.PATH ?? '' });
    calibrationMsRuns.push(calibration.ms);
    process.stdout.write(`run ${i + 1}/${RUNS}\n`);
  }
  return calibrationMsRuns;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 's3dr-cold-'));
  const loadAverageAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  try {
    process.stdout.write('sls package --stage dev …\n');
    const current = await packageFunctions(root, join(dir, 'current'));
    process.stdout.write('floor bundles …\n');
    const floors = await buildFloors(current, dir);
    let baseline: Measured[] = [];
    if (BASELINE) {
      process.stdout.write(`sls package --stage dev of ${BASELINE} (baseline) …\n`);
      baseline = await packageFunctions(
        await checkoutBaseline(BASELINE, join(dir, 'baseline-src')),
        join(dir, 'baseline'),
      );
    }
    const calibrationFile = join(dir, 'calibration.cjs');
    await writeFile(calibrationFile, calibrationModule());
    const floorBundles = [...floors.values()].map((f) => f.measured);
    const calibrationMsRuns = await measureRounds(
      [...current, ...floorBundles, ...baseline],
      calibrationFile,
    );
    const result: ColdResult = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version, loadAverageAtStart },
      runs: RUNS,
      calibrationMs: round(median(calibrationMsRuns)),
      calibrationMsRuns: calibrationMsRuns.map(round),
      functions: finish(current, floors),
    };
    const lines = table(result);
    if (BASELINE) {
      result.baseline = { ref: BASELINE, functions: finish(baseline) };
      lines.push(...baselineTable(BASELINE, result.baseline.functions, result.functions));
    }
    process.stdout.write(lines.join('\n'));
    if (OUT !== '-') {
      await mkdir(join(OUT, '..'), { recursive: true });
      await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`wrote ${OUT}\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
