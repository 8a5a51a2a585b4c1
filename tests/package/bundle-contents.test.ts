/**
 * What the Lambda bundles leave out, because a module in them costs cold-start time whether it runs or
 * not (docs/performance.md#cold-starts): each handler is built with serverless.yml's own esbuild options
 * and plugins, and the build's metafile says which source files reached the bundle. And the lint rule
 * that keeps `zod/mini` behind lib/core/zod.ts, shown by linting probe files with the project's biome.json.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { runProcess } from '../helpers/run-process.ts';
import { get, printConfig, root, SLS_TIMEOUT_MS } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

const require = createRequire(import.meta.url);
const plugins = require('../../scripts/esbuild-plugins.cjs') as Plugin[];
const HANDLERS = ['ingest', 'replicate', 'verify', 'restore', 'job-worker'];

let dir: string;
/** The source files (relative to the project) in each handler's bundle, with their bytes in it. */
const inputs = new Map<string, Map<string, number>>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-bundles-'));
  const esbuild = get(await printConfig('dev'), 'custom', 'esbuild') as Record<string, unknown>;
  // serverless-esbuild's own keys, not esbuild options; `plugins` names the file loaded above.
  const { outputWorkFolder, exclude, outputFileExtension, plugins: _file, ...options } = esbuild;
  for (const fn of HANDLERS) {
    const result = await build({
      ...(options as BuildOptions),
      absWorkingDir: root,
      entryPoints: [`functions/${fn}.ts`],
      outfile: join(dir, `${fn}.cjs`),
      plugins,
      metafile: true,
      logLevel: 'silent',
    });
    const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
    const files = new Map<string, number>();
    for (const [file, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
      if (bytesInOutput > 0) files.set(file, bytesInOutput);
    }
    inputs.set(fn, files);
  }
}, SLS_TIMEOUT_MS);

afterAll(() => rm(dir, { recursive: true, force: true }));

const filesOf = (fn: string) => [...(inputs.get(fn)?.keys() ?? [])];

describe('the Lambda bundles', () => {
  it('are built for every handler, from s3-dr sources and zod/mini', () => {
    for (const fn of HANDLERS) {
      expect(filesOf(fn)).toContain(`functions/${fn}.ts`);
      expect(filesOf(fn)).toContain('node_modules/zod/v4/mini/schemas.js');
    }
  });

  it.each(HANDLERS)('%s holds no classic zod: every schema is zod/mini through lib/core/zod.ts', (fn) => {
    expect(filesOf(fn).filter((f) => f.includes('node_modules/zod/v4/classic/'))).toEqual([]);
  });

  it('verify (start, status, cancel) holds none of the job worker’s verifier', () => {
    const files = filesOf('verify');
    for (const worker of ['lib/verify/bucket.ts', 'lib/verify/job-run.ts', 'lib/verify/listing.ts']) {
      expect(files).not.toContain(worker);
      expect(filesOf('job-worker')).toContain(worker);
    }
  });
});

describe('the lint rule on zod/mini (biome.json noRestrictedImports)', () => {
  it(
    'refuses `zod/mini` everywhere but lib/core/zod.ts',
    async () => {
      const probe = join(dir, 'lint');
      const source = "import * as z from 'zod/mini';\n\nexport const name = z.string();\n";
      const files = ['lib/core/zod.ts', 'lib/verify/probe.ts', 'functions/probe.ts', 'tests/unit/probe.ts'];
      for (const file of files) {
        await mkdir(dirname(join(probe, file)), { recursive: true });
        await writeFile(join(probe, file), source);
      }
      await copyFile(join(root, 'biome.json'), join(probe, 'biome.json'));
      const linted = await runProcess(
        join(root, 'node_modules/.bin/biome'),
        ['lint', '--reporter=json', '.'],
        { cwd: probe, timeoutMs: scaled(60_000), check: false },
      );
      const report = JSON.parse(linted.stdout) as {
        diagnostics: { category: string; location: { path: string } }[];
      };
      const refused = report.diagnostics
        .filter((d) => d.category === 'lint/style/noRestrictedImports')
        .map((d) => d.location.path)
        .sort();
      expect(refused).toEqual(['functions/probe.ts', 'lib/verify/probe.ts', 'tests/unit/probe.ts']);
    },
    scaled(60_000),
  );
});
