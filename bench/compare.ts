/**
 * `npm run bench:compare`: runs benchmarks afresh and compares every figure with the last recorded
 * results in bench/results/, as ratios to the peers measured in the same run where the figure has peers
 * (bench/compare-results.ts says which). Prints one table; exits 1 when any figure is more than 10 %
 * worse than recorded.
 *
 * A comparison leaves the record as it was: each benchmark writes its results file, and the recorded
 * version is put back afterwards (BENCH_COMPARE_RECORD=1 keeps the fresh one instead).
 *
 * Env: BENCH_COMPARE — comma list of cold,replicate,bench,verify,restore (default: all, which takes a
 * long time; `npm run bench:compare -- cold replicate` does the same); BENCH_COMPARE_FRESH_DIR — compare
 * the results files in that folder instead of running anything (e.g. files a quiet machine produced).
 * Each benchmark keeps its own settings (BENCH_N etc.): use the ones the record was made with.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { root } from '../tests/helpers/template.ts';
import {
  BENCHMARKS,
  type BenchmarkName,
  type Comparison,
  compareFigures,
  extractFigures,
  formatComparisons,
  TABLE_HEADER,
  TOLERANCE,
} from './compare-results.ts';

const resultsDir = join(root, 'bench/results');

function selection(): BenchmarkName[] {
  const names = (
    process.argv.slice(2).length > 0 ? process.argv.slice(2) : (process.env.BENCH_COMPARE ?? '').split(',')
  )
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) return Object.keys(BENCHMARKS) as BenchmarkName[];
  for (const name of names) {
    if (!(name in BENCHMARKS))
      throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  }
  return names as BenchmarkName[];
}

function npmRun(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`npm run ${script} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(file, 'utf8'));

async function main(): Promise<void> {
  const freshDir = process.env.BENCH_COMPARE_FRESH_DIR;
  const keep = process.env.BENCH_COMPARE_RECORD === '1';
  const tables: string[] = [];
  const all: Comparison[] = [];
  for (const name of selection()) {
    const { script, file } = BENCHMARKS[name];
    const recordedFile = join(resultsDir, file);
    const recordedText = await readFile(recordedFile, 'utf8').catch(() => undefined);
    let fresh: unknown;
    if (freshDir) {
      fresh = await readJson(join(freshDir, file));
    } else {
      process.stdout.write(`\n== npm run ${script}\n`);
      try {
        await npmRun(script);
        fresh = await readJson(recordedFile);
      } finally {
        if (!keep && recordedText !== undefined) await writeFile(recordedFile, recordedText);
      }
    }
    const recorded = recordedText === undefined ? [] : extractFigures(name, JSON.parse(recordedText));
    const comparisons = compareFigures(recorded, extractFigures(name, fresh));
    all.push(...comparisons);
    tables.push(formatComparisons(name, comparisons));
  }
  const regressions = all.filter((c) => c.regressed);
  process.stdout.write(
    [
      '',
      TABLE_HEADER,
      ...tables,
      '',
      regressions.length === 0
        ? `no figure is more than ${TOLERANCE * 100} % worse than recorded`
        : `${regressions.length} figure(s) more than ${TOLERANCE * 100} % worse than recorded: ${regressions.map((r) => r.name).join('; ')}`,
      '',
    ].join('\n'),
  );
  process.exitCode = regressions.length === 0 ? 0 : 1;
}

await main();
