/**
 * The Lambda bundles resolve credentials with the SDK's `fromEnv` instead of the whole default chain
 * (scripts/esbuild-plugins.cjs, lib/aws/lambda-credentials.ts). The Lambda runtime gives a function its
 * execution role's credentials as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (AWS
 * Lambda Developer Guide, "Working with Lambda environment variables", Defined runtime environment
 * variables: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 * Here a bundle built with the project's esbuild plugins signs an S3 request with exactly those, in a
 * fresh Node process given a Lambda-like environment, and the rest of the chain is not in the bundle.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';
import { bundleEnv } from '../helpers/bundle-env.ts';
import { runProcess } from '../helpers/run-process.ts';
import { root } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

const require = createRequire(import.meta.url);
const plugins = require('../../scripts/esbuild-plugins.cjs') as Plugin[];

/** serverless.yml custom.esbuild, the options that decide what is bundled. */
const options: BuildOptions = {
  bundle: true,
  minify: true,
  keepNames: false,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  mainFields: ['module', 'main'],
  plugins,
  metafile: true,
  logLevel: 'silent',
  absWorkingDir: root,
};

/** One HEAD of an object through the project's S3 client factory, as a handler makes it. */
const probe = `
import { createS3Clients } from './lib/aws/clients.ts';
import { loadConfig } from './lib/core/config.ts';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
const config = loadConfig();
export const handler = async () => {
  const s3 = createS3Clients(config).s3(config.sourceRegion);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: 'source-bucket', Key: 'k' }));
    return 'sent';
  } catch (error) {
    return error.name + ': ' + error.message;
  } finally {
    s3.destroy();
  }
};`;

const PROCESS_MS = scaled(60_000);
let dir: string;
let server: Server;
let endpoint: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-credentials-'));
  server = createServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { 'content-length': '0', etag: '"0"' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function runProbe(credentials: Record<string, string>): Promise<string> {
  const outfile = join(dir, 'probe.cjs');
  await build({ ...options, stdin: { contents: probe, resolveDir: root, loader: 'ts' }, outfile });
  const { stdout } = await runProcess(
    process.execPath,
    ['-e', 'require(process.argv[1]).handler().then((r) => process.stdout.write(r))', outfile],
    {
      env: {
        ...bundleEnv(endpoint),
        AWS_LAMBDA_FUNCTION_NAME: 's3-dr-test-replicate',
        // No HOME: a profile file the full chain could fall back to is out of reach.
        HOME: dir,
        ...credentials,
      },
      timeoutMs: PROCESS_MS,
    },
  );
  return stdout;
}

describe('credentials in a Lambda bundle', () => {
  it(
    'bundles fromEnv in place of the default chain (no profile, SSO, web identity or STS client)',
    async () => {
      const result = await build({
        ...options,
        entryPoints: ['functions/replicate.ts'],
        write: false,
        outdir: dir,
      });
      const inputs = Object.keys((result.metafile as Metafile).inputs);
      expect(inputs).toContain('lib/aws/lambda-credentials.ts');
      expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/credential-provider-env/'))).not.toEqual(
        [],
      );
      const chain = inputs.filter((f) =>
        /node_modules\/@aws-sdk\/(credential-provider-(node|ini|sso|web-identity|process|http|login)|nested-clients)\//.test(
          f,
        ),
      );
      expect(chain).toEqual([]);
    },
    PROCESS_MS,
  );

  it(
    'signs with the execution role credentials the Lambda runtime puts in the environment',
    async () => {
      seen.length = 0;
      const answer = await runProbe({
        AWS_ACCESS_KEY_ID: 'ASIAROLEEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'role-secret',
        AWS_SESSION_TOKEN: 'role-session-token',
      });
      expect(answer).toBe('sent');
      expect(seen).toHaveLength(1);
      expect(seen[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIAROLEEXAMPLE\//);
      expect(seen[0]?.['x-amz-security-token']).toBe('role-session-token');
    },
    PROCESS_MS,
  );

  it(
    'sends nothing and says so when the environment holds no credentials',
    async () => {
      seen.length = 0;
      const answer = await runProbe({});
      expect(answer).toContain('Unable to find environment variable credentials');
      expect(seen).toEqual([]);
    },
    PROCESS_MS,
  );
});
