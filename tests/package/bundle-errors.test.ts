/**
 * What still holds in a Lambda bundle minified without keepNames (serverless.yml custom.esbuild): class and
 * function names are one or two letters there, so everything that reads a name must not take it from the
 * class. A probe built with serverless.yml's own esbuild options and plugins runs in a fresh Node 22
 * process against a local HTTP server answering the way S3 answers:
 * - s3-dr's errors keep their names (each class names itself: lib/core/errors.ts);
 * - the SDK's modeled errors still match `instanceof` (NoSuchKey) and keep `name` and the HTTP status,
 *   and s3-dr's S3 adapter still turns S3's 404 and 412 into its own errors;
 * - the SDK's HTTP handler warns through s3-dr's logger, not the SDK's silent NoOpLogger, which the SDK
 *   recognises by its class name only (lib/aws/clients.ts);
 * - with --enable-source-maps (serverless.yml NODE_OPTIONS), a stack trace names lib/*.ts files and
 *   lines, and function names where the map carries them.
 * S3's answers: "Error responses", Amazon S3 API Reference
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html): REST errors are an XML `<Error>`
 * with `<Code>`, `<Message>`, `<RequestId>`; NoSuchKey is 404 Not Found, PreconditionFailed 412.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BuildOptions, build } from 'esbuild';
import { slsBuildOptions } from '../../bench/cold-floor.ts';
import { bundleEnv } from '../helpers/bundle-env.ts';
import { runProcess } from '../helpers/run-process.ts';
import { root, SLS_TIMEOUT_MS } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

const probe = `
import { CopyObjectCommand, GetObjectCommand, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import { createS3Clients } from './lib/aws/clients.ts';
import { logger } from './lib/aws/observability.ts';
import { S3ObjectStore } from './lib/aws/s3-object-store.ts';
import { loadConfig } from './lib/core/config.ts';
import * as errors from './lib/core/errors.ts';

const describe = (e) => ({ name: e.name, status: e.$metadata?.httpStatusCode, cause: e.cause?.name,
  noSuchKey: e instanceof NoSuchKey, service: e instanceof S3ServiceException });

export async function probe() {
  const config = loadConfig();
  const s3 = createS3Clients(config).s3(config.sourceRegion);
  const store = new S3ObjectStore(s3, 'source-bucket');
  const out = { classes: {}, sdk: {} };
  for (const [exported, value] of Object.entries(errors)) {
    if (typeof value !== 'function' || !(value === errors.DrError || value.prototype instanceof errors.DrError)) continue;
    const error = new value('m');
    out.classes[exported] = { name: error.name, className: value.name, drError: error instanceof errors.DrError };
  }
  try { await s3.send(new GetObjectCommand({ Bucket: 'source-bucket', Key: 'missing' })); } catch (e) { out.sdk.get = describe(e); }
  try { await store.copyFrom({ bucket: 'source-bucket', key: 'k', ifMatch: 'e1' }, 'k2', {}); } catch (e) { out.sdk.copy = describe(e); }
  out.sdk.missingText = (await store.getText('missing')) ?? null;
  const handler = await s3.config.requestHandler.configProvider;
  out.handlerLogger = handler.logger === logger ? 's3-dr logger' : (handler.logger?.constructor?.name ?? 'none');
  out.clientLogger = s3.config.logger === logger ? 's3-dr logger' : 'the SDK default';
  s3.destroy();
  return out;
}

export function fail() {
  return loadConfig();
}
`;

/** S3's REST error response (ErrorResponses.html): the XML body and its status. */
function s3Error(code: string, message: string, status: number) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>`;
  return { status, body };
}

const PROCESS_MS = scaled(60_000);
let dir: string;
let server: Server;
let endpoint: string;
let options: BuildOptions;
let bundle: string;

const env = () => ({
  ...bundleEnv(endpoint),
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'example',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-bundle-errors-'));
  server = createServer((request, response) => {
    // CopyObject is a PUT with x-amz-copy-source; the If-Match did not hold: 412 PreconditionFailed.
    const answer = request.headers['x-amz-copy-source']
      ? s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412)
      : s3Error('NoSuchKey', 'The specified key does not exist.', 404);
    response.writeHead(answer.status, { 'content-type': 'application/xml' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  options = await slsBuildOptions(root);
  bundle = join(dir, 'probe.cjs');
  await build({
    ...options,
    stdin: { contents: probe, resolveDir: root, sourcefile: 'probe.ts', loader: 'ts' },
    outfile: bundle,
  });
}, SLS_TIMEOUT_MS);

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function runBundle(script: string, extra: Record<string, string> = {}, args: string[] = []) {
  return runProcess(process.execPath, [...args, '-e', script, bundle], {
    env: { ...env(), ...extra },
    timeoutMs: PROCESS_MS,
    check: false,
  });
}

describe('a Lambda bundle minified without keepNames', () => {
  it('is what serverless.yml builds (the premise of the tests below)', () => {
    expect(options.minify).toBe(true);
    expect(options.keepNames).toBe(false);
  });

  it(
    'keeps the names of s3-dr errors and of S3 errors, instanceof on SDK errors, and the adapter’s mapping of 404 and 412',
    async () => {
      const run = await runBundle(
        'require(process.argv[1]).probe().then((r) => process.stdout.write(JSON.stringify(r)))',
      );
      expect(run.stderr).toBe('');
      const out = JSON.parse(run.stdout) as {
        classes: Record<string, { name: string; className: string; drError: boolean }>;
        sdk: Record<string, unknown>;
        handlerLogger: string;
        clientLogger: string;
      };
      const classes = Object.entries(out.classes);
      expect(classes.length).toBeGreaterThanOrEqual(21);
      for (const [exported, c] of classes) expect(c).toMatchObject({ name: exported, drError: true });
      // The control: class names themselves are minified, so the names above come from the literals.
      expect(classes.filter(([exported, c]) => c.className !== exported).length).toBeGreaterThan(0);
      expect(out.sdk.get).toEqual({ name: 'NoSuchKey', status: 404, noSuchKey: true, service: true });
      expect(out.sdk.copy).toEqual({
        name: 'PreconditionFailedError',
        cause: 'PreconditionFailed',
        noSuchKey: false,
        service: false,
      });
      expect(out.sdk.missingText).toBeNull();
      expect(out.handlerLogger).toBe('s3-dr logger');
      // Only the HTTP handler gets it: a client given a logger logs every request at info and every
      // failed one (a 404 HEAD included) at error (the SDK's logger middleware, which skips the default).
      expect(out.clientLogger).toBe('the SDK default');
    },
    PROCESS_MS,
  );

  it(
    'prints a stack trace through the source map with lib/*.ts files and lines, and loadConfig by name',
    async () => {
      const run = await runBundle(
        'try { require(process.argv[1]).fail() } catch (e) { process.stdout.write(e.stack) }',
        { S3DR_DR_BUCKET: '' },
        ['--enable-source-maps'],
      );
      expect(run.stdout).toMatch(/^ConfigError: /);
      expect(run.stdout).toMatch(/at loadConfig \(.*lib\/core\/config\.ts:\d+:\d+\)/);
      // The caller's frame keeps its file and line; its name is the minified export's (`Object.WZ`):
      // Node names a frame from the map only where a mapping there carries the original name.
      expect(run.stdout).toMatch(/at .+ \(.*probe\.ts:\d+:\d+\)/);
      expect(run.stdout).not.toMatch(/probe\.cjs/);
    },
    PROCESS_MS,
  );
});
