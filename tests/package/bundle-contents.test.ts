/**
 * What the Lambda bundles leave out, because a module in them costs cold-start time whether it runs or
 * not (docs/performance.md#cold-starts): each handler is built with serverless.yml's own esbuild options
 * and plugins, and the build's metafile says which source files reached the bundle.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { get, printConfig, root, SLS_TIMEOUT_MS } from '../helpers/template.ts';

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
