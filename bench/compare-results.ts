/**
 * The figures each benchmark records in bench/results/*.json, and the comparison of a fresh run with the
 * recorded one (`npm run bench:compare`, bench/compare.ts). Pure functions: no I/O, no clock.
 *
 * Absolute times vary between machines, so a figure that has peers measured in the same run is taken as
 * a ratio to them (s3-dr's objects/s ÷ rclone's, a cold start ÷ the calibration module's load, the
 * verifier's pass ÷ `rclone check`). Request counts, sizes and memory are exact or nearly so and are
 * compared as they are; so are the few times that have no peer in their run (said in the figure's name).
 */

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Figure {
  /** Unique within a benchmark, stable between runs: the comparison matches figures by it. */
  name: string;
  value: number;
  better: 'higher' | 'lower';
  /** Why this figure cannot be judged (e.g. measured on a busy machine): listed, never flagged. */
  unreliable?: string;
}

/** The benchmarks `bench:compare` knows: npm script and the results file it writes. */
export const BENCHMARKS = {
  cold: { script: 'bench:cold', file: 'cold.json' },
  replicate: { script: 'bench:replicate', file: 'replicate.json' },
  bench: { script: 'bench', file: 'bench.json' },
  verify: { script: 'bench:verify', file: 'verify.json' },
  restore: { script: 'bench:restore', file: 'restore.json' },
} as const;
export type BenchmarkName = keyof typeof BENCHMARKS;

// Results files are read loosely: older recordings may lack a field, which then yields no figure.
type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const records = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isRecord) : []);

function push(
  out: Figure[],
  name: string,
  value: number | undefined,
  better: Figure['better'],
  unreliable?: string,
): void {
  if (value !== undefined && Number.isFinite(value))
    out.push({ name, value, better, ...(unreliable ? { unreliable } : {}) });
}

/**
 * Above this load average per CPU, cold-start times are not judged. With more runnable processes than
 * cores, two runs of the same bundles on this project's machine differed by up to 75 % in init ÷
 * calibration (README "Cold starts"): any verdict would be noise. Sizes are judged regardless.
 */
export const MAX_LOAD_PER_CPU = 1;
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;

function coldFigures(r: Json): Figure[] {
  const out: Figure[] = [];
  const calibration = num(r.calibrationMs);
  const machine = isRecord(r.machine) ? r.machine : {};
  const load = Array.isArray(machine.loadAverageAtStart) ? num(machine.loadAverageAtStart[0]) : undefined;
  const cpus = num(machine.cpus);
  const busy =
    load !== undefined && cpus !== undefined && load / cpus > MAX_LOAD_PER_CPU
      ? `measured at load ${load} on ${cpus} CPUs`
      : undefined;
  for (const [fn, f] of Object.entries(isRecord(r.functions) ? r.functions : {})) {
    if (!isRecord(f)) continue;
    push(out, `${fn}: init ÷ calibration`, ratio(num(f.initMs), calibration), 'lower', busy);
    push(out, `${fn}: zipped KB`, num(f.zippedKB), 'lower');
    push(out, `${fn}: unzipped KB`, num(f.unzippedKB), 'lower');
  }
  return out;
}

/** bench:replicate has no peer in its run: its figures are absolute. */
function replicateFigures(r: Json, prefix = ''): Figure[] {
  const out: Figure[] = [];
  push(out, `${prefix}objects/s (no peer: absolute)`, num(r.objectsPerSecond), 'higher');
  push(out, `${prefix}put→DR p99 ms (no peer: absolute)`, num(r.lagP99Ms), 'lower');
  push(out, `${prefix}S3 requests per object`, num(r.s3RequestsPerObject), 'lower');
  push(out, `${prefix}SQS requests per object`, num(r.sqsRequestsPerObject), 'lower');
  push(out, `${prefix}CPU per object ÷ the writer's`, cpuRatio(r), 'lower');
  return out;
}

/**
 * s3-dr's CPU ms per replicated object (ingest + replicate + poller) as a ratio to the load writer's per
 * object in the same run: the writer (plain signed PUTs) is a fixed amount of work, so a slower or busier
 * machine moves both alike.
 */
function cpuRatio(r: Json): number | undefined {
  const cpu = isRecord(r.cpuMsPerObject) ? r.cpuMsPerObject : {};
  return ratio(num(cpu.ours), num(cpu.writer));
}

/** `npm run bench`: s3-dr's objects/s as ratios to the peers of the same run; medians over its runs. */
function benchFigures(r: Json): Figure[] {
  const perRun = records(r.runs).map((run) => {
    const figures: Figure[] = [];
    const ours = isRecord(run.ours) ? run.ours : {};
    for (const peer of records(run.peers)) {
      push(
        figures,
        `objects/s ÷ ${String(peer.tool)}`,
        ratio(num(ours.objectsPerSecond), num(peer.objectsPerSecond)),
        'higher',
      );
    }
    push(figures, 'S3 requests per object', num(ours.s3RequestsPerObject), 'lower');
    push(figures, "CPU per object ÷ the writer's", cpuRatio(ours), 'lower');
    // "Write, then rclone sync" against s3-dr's write → DR complete (issue #16): ≥ 1 is the target.
    const rclone = records(run.peers).find((p) => String(p.tool).startsWith('rclone'));
    const peerWrite = isRecord(run.peerWrite) ? num(run.peerWrite.seconds) : undefined;
    const writeThenRclone =
      peerWrite === undefined || rclone === undefined
        ? undefined
        : peerWrite + (num(rclone.seconds) ?? Number.NaN);
    push(
      figures,
      'write, then rclone sync ÷ s3-dr end to end',
      ratio(writeThenRclone, num(ours.endToEndSeconds)),
      'higher',
    );
    // The floor (the SDK's copies alone, same writer, same run): what the pipeline adds on top of it.
    const floor = isRecord(run.floor) ? run.floor : undefined;
    if (floor) {
      push(
        figures,
        's3-dr end to end ÷ floor (SDK CopyObject alone)',
        ratio(num(ours.endToEndSeconds), num(floor.endToEndSeconds)),
        'lower',
      );
    }
    const change = isRecord(run.oneChange) ? run.oneChange : {};
    push(figures, '1 change: s3-dr S3 requests', num(change.total), 'lower');
    const atRate = isRecord(run.atRate) ? run.atRate : {};
    push(figures, 'put→DR p99 ms at the offered rate (no peer: absolute)', num(atRate.lagP99Ms), 'lower');
    return figures;
  });
  return medianByName(perRun.flat());
}

/** bench:verify: the verifier's pass as a ratio to `rclone check` of the same buckets, per size. */
function verifyFigures(r: Json): Figure[] {
  const out: Figure[] = [];
  for (const s of records(r.sizes)) {
    // The flat layout (all keys under one prefix) is measured at the same N as a grid case.
    const n = `${num(s.n)}${s.layout === 'flat' ? ' flat' : ''}`;
    push(
      out,
      `N=${n}: verify pass ÷ rclone check`,
      ratio(num(s.verifyPassMs), num(s.rcloneCheckMs)),
      'lower',
    );
    // The floor (the SDK's listings alone, same rounds): what s3-dr's own code adds on top of it.
    const floor = isRecord(s.floor) ? s.floor : undefined;
    if (floor)
      push(
        out,
        `N=${n}: verify pass ÷ floor (SDK listings alone)`,
        num(floor.verifierOverFloorMedian),
        'lower',
      );
    push(out, `N=${n}: verifier peak RSS MiB`, num(s.verifierPeakRssMiB), 'lower');
    push(
      out,
      `N=${n}: verifier CPU ms per 1,000 keys (no peer: absolute)`,
      num(s.verifierCpuMsPer1000Keys),
      'lower',
    );
    push(out, `N=${n}: LIST per bucket`, num(s.listPerBucket), 'lower');
    push(out, `N=${n}: HEAD`, num(s.heads), 'lower');
  }
  return out;
}

/** bench:restore has no peer in its run: objects/s and MiB/s are absolute. */
function restoreFigures(r: Json): Figure[] {
  const out: Figure[] = [];
  for (const size of ['small', 'large']) {
    const group = isRecord(r[size]) ? r[size] : {};
    for (const run of records(group.runs)) {
      const what = `${size}: ${String(run.what)}`;
      push(out, `${what}: objects/s (no peer: absolute)`, num(run.objectsPerSecond), 'higher');
      if (size === 'large') push(out, `${what}: MiB/s (no peer: absolute)`, num(run.mibPerSecond), 'higher');
      const requests = isRecord(run.requestsPerObject) ? run.requestsPerObject : {};
      for (const [op, count] of Object.entries(requests))
        push(out, `${what}: ${op} per object`, num(count), 'lower');
    }
  }
  return out;
}

function medianByName(figures: Figure[]): Figure[] {
  const byName = new Map<string, Figure[]>();
  for (const f of figures) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  return [...byName.values()].map((fs) => ({ ...fs[0]!, value: median(fs.map((f) => f.value)) }));
}

/** The comparable figures of one benchmark's results file. */
export function extractFigures(benchmark: BenchmarkName, results: unknown): Figure[] {
  if (!isRecord(results)) return [];
  switch (benchmark) {
    case 'cold':
      return coldFigures(results);
    case 'replicate':
      return replicateFigures(results);
    case 'bench':
      return benchFigures(results);
    case 'verify':
      return verifyFigures(results);
    case 'restore':
      return restoreFigures(results);
  }
}

export interface Comparison {
  name: string;
  better: Figure['better'];
  recorded?: number;
  fresh?: number;
  /** How many times worse the fresh figure is (1.25 = 25 % worse; below 1 = better). */
  worseBy?: number;
  regressed: boolean;
  /** Why the figure was not judged. */
  notJudged?: string;
}

/** More than this much worse than the recorded figure is a regression. */
export const TOLERANCE = 0.1;

/**
 * Each fresh figure against the recorded one of the same name. A figure on only one side (a benchmark
 * that gained or lost a figure, a partial run) is listed but not judged.
 */
export function compareFigures(recorded: Figure[], fresh: Figure[], tolerance = TOLERANCE): Comparison[] {
  const old = new Map(recorded.map((f) => [f.name, f]));
  const seen = new Set<string>();
  const out: Comparison[] = [];
  for (const f of fresh) {
    seen.add(f.name);
    const r = old.get(f.name);
    if (!r) {
      out.push({ name: f.name, better: f.better, fresh: f.value, regressed: false });
      continue;
    }
    const worseBy = worseness(r.value, f.value, f.better);
    const notJudged = [r.unreliable && `recorded ${r.unreliable}`, f.unreliable && `fresh ${f.unreliable}`]
      .filter(Boolean)
      .join('; ');
    out.push({
      name: f.name,
      better: f.better,
      recorded: r.value,
      fresh: f.value,
      worseBy,
      regressed: !notJudged && worseBy > 1 + tolerance,
      ...(notJudged ? { notJudged: `not judged: ${notJudged}` } : {}),
    });
  }
  for (const r of recorded) {
    if (!seen.has(r.name)) out.push({ name: r.name, better: r.better, recorded: r.value, regressed: false });
  }
  return out;
}

/** fresh ÷ recorded for a lower-is-better figure, recorded ÷ fresh for a higher-is-better one. */
function worseness(recorded: number, fresh: number, better: Figure['better']): number {
  const [num, den] = better === 'lower' ? [fresh, recorded] : [recorded, fresh];
  if (num === den) return 1;
  if (den === 0) return Number.POSITIVE_INFINITY;
  return num / den;
}

const fmt = (v: number | undefined) =>
  v === undefined ? '—' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);

/** A Markdown table of comparisons, regressions marked. */
export function formatComparisons(benchmark: string, comparisons: Comparison[]): string {
  const rows = comparisons.map((c) => {
    const change =
      c.worseBy === undefined
        ? c.recorded === undefined
          ? 'new'
          : 'not measured'
        : c.worseBy === 1
          ? 'same'
          : `${c.worseBy >= 1 ? '+' : '−'}${(Math.abs(c.worseBy - 1) * 100).toFixed(1)} % ${c.worseBy >= 1 ? 'worse' : 'better'}`;
    return `| ${benchmark} | ${c.name} | ${c.better} | ${fmt(c.recorded)} | ${fmt(c.fresh)} | ${change} | ${c.regressed ? 'REGRESSION' : (c.notJudged ?? '')} |`;
  });
  return rows.join('\n');
}

export const TABLE_HEADER = [
  '| benchmark | figure | better | recorded | fresh | change | |',
  '| --- | --- | --- | ---: | ---: | ---: | --- |',
].join('\n');
