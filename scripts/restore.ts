/**
 * `npm run restore -- --data '<JSON>'` (or `--path events/restore-prefix.json`): the local equivalent of
 * `sls invoke -f restore`. Runs the real restore handler, configured exactly as the running local
 * runtime configures its handlers (`npm start`, found through S3DR_PORT, default 4566), and prints the
 * JSON report on stdout and its one-line summary on stderr.
 *
 * Exit codes: 0 done (or planned); 1 bad payload, refused request or no runtime; 3 some keys failed.
 * Restore settings may be overridden from the shell for local experiments, e.g.
 * `S3DR_RESTORE_TARGETS=my-copy npm run restore -- --data '…'`.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { localEnv, localPort } from '../local/env.ts';
import { lambdaContext } from '../local/lambda-context.ts';
import { loadLocalSettings } from '../local/settings.ts';

/** Restore settings a person may set from the shell for a local run. */
const OVERRIDABLE = [
  'S3DR_RESTORE_TARGETS',
  'S3DR_RESTORE_TARGET_REGION',
  'S3DR_RESTORE_CONCURRENCY',
  'S3DR_MULTIPART_THRESHOLD',
  'S3DR_PART_SIZE',
  'S3DR_PART_CONCURRENCY',
  'S3DR_STACK_ROLE',
];

const fail = (message: string): never => {
  process.stderr.write(`restore: ${message}\n`);
  process.exit(1);
};

const { values } = parseArgs({
  options: { data: { type: 'string', short: 'd' }, path: { type: 'string', short: 'p' } },
  strict: true,
});
if ((values.data === undefined) === (values.path === undefined)) {
  fail(
    `give the payload with --data '<JSON>' or --path <file>, e.g. npm run restore -- --data '{"prefix":"photos/"}'`,
  );
}
const text = values.data ?? (await readFile(values.path ?? '', 'utf8').catch((e: Error) => fail(e.message)));
let payload: unknown;
try {
  payload = JSON.parse(text);
} catch (error) {
  fail(`the payload is not JSON: ${(error as Error).message}`);
}

const port = localPort();
const overrides: Record<string, string> = {};
for (const name of OVERRIDABLE) {
  const value = process.env[name];
  if (value) overrides[name] = value;
}
const env = await localEnv(port, overrides);
const endpoint = env.S3DR_ENDPOINT_URL ?? `http://127.0.0.1:${port}`;
try {
  await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
} catch (error) {
  fail(
    `no local runtime answers at ${endpoint} (${(error as Error).cause ?? (error as Error).message}); start one with \`npm start\`, or set S3DR_PORT`,
  );
}
// Handlers read their configuration when first imported, exactly as in Lambda. Info logs and EMF
// would go to stdout, which carries the report: keep them off unless asked for (warnings and errors
// go to stderr).
Object.assign(process.env, env, {
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
});
const settings = await loadLocalSettings();
const { handler } = await import('../functions/restore.ts');
const { InvalidPayloadError, RestoreRefusedError } = await import('../lib/errors.ts');

try {
  const report = await handler(payload, lambdaContext('restore', settings.restore.timeoutSeconds * 1000));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`${report.summary}\n`);
  process.exit((report.results?.failed.objects ?? 0) > 0 ? 3 : 0);
} catch (error) {
  if (error instanceof InvalidPayloadError || error instanceof RestoreRefusedError) fail(error.message);
  throw error;
}
