/**
 * bench:cold's floor (bench/cold-floor.ts): for each function, a bundle built with serverless.yml's own
 * esbuild options and plugins holding only the mandated dependencies it uses. Shown here: the SDK clients
 * are read from each function's real bundle, the floor holds none of s3-dr's sources and none of a
 * client the function does not use, and it loads like a handler (a fresh process, `handler` exported).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { BuildOptions } from 'esbuild';
import { buildFloor, floorPartsOf, slsBuildOptions } from '../../bench/cold-floor.ts';
import { runProcess } from '../helpers/run-process.ts';
import { root, SLS_TIMEOUT_MS } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

let dir: string;
let options: BuildOptions;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-floor-'));
  options = await slsBuildOptions(root);
}, SLS_TIMEOUT_MS);

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the cold-start floor of a function', () => {
  it.each([
    ['ingest', ['sqs']],
    ['replicate', ['s3']],
    ['verify', ['s3', 'sqs']],
    ['restore', ['s3', 'sqs']],
    ['job-worker', ['s3', 'sqs']],
  ])(
    '%s: its SDK clients come from its own bundle (%j)',
    async (fn, clients) => {
      const parts = await floorPartsOf(options, `functions/${fn}.ts`, join(dir, fn, 'entry.cjs'), false);
      expect(parts).toEqual({ clients, batch: false });
    },
    scaled(60_000),
  );

  it(
    'holds the mandated dependencies only, and loads as a handler',
    async () => {
      const outfile = join(dir, 'floor', 'floor.cjs');
      const files = await buildFloor(options, { clients: ['sqs'], batch: true }, outfile);
      const packages = new Set(files.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? f));
      // Of s3-dr's sources, only what the project's plugin puts in place of the SDK's default credential
      // chain (scripts/esbuild-plugins.cjs): every function's clients load it, so the floor's do too.
      expect([...packages].filter((p) => /^(lib|functions)\//.test(p))).toEqual([
        'lib/aws/lambda-credentials.ts',
      ]);
      for (const expected of [
        '@aws-sdk/client-sqs',
        '@aws-lambda-powertools/logger',
        '@aws-lambda-powertools/metrics',
        '@aws-lambda-powertools/batch',
        '@middy/core',
        '@aws-sdk/credential-provider-env',
      ]) {
        expect(packages).toContain(expected);
      }
      expect(packages).not.toContain('@aws-sdk/client-s3');
      expect(packages).not.toContain('zod');
      const loaded = await runProcess(
        process.execPath,
        ['-e', 'process.stdout.write(typeof require(process.argv[1]).handler)', outfile],
        { env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1' }, timeoutMs: scaled(60_000) },
      );
      expect(loaded.stdout).toBe('function');
    },
    scaled(60_000),
  );
});
