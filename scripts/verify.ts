/**
 * `npm run verify -- --data '<JSON>'` (or `--path events/verify-prefix.json`, or nothing for the scheduled
 * run): the local equivalent of `sls invoke -f verify`. Runs the real verify handler, configured exactly
 * as the running local runtime configures its handlers (`npm start`, found through S3DR_PORT, default
 * 4566), and prints the JSON report on stdout and a one-line summary on stderr.
 *
 * Exit codes: 0 verified (drift or not: the report says); 1 bad payload, no runtime, or verify failed.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { localEnv, localPort } from '../local/env.ts';
import { lambdaContext } from '../local/lambda-context.ts';
import { loadLocalSettings } from '../local/settings.ts';

/** Verifier settings a person may set from the shell for a local run. */
const OVERRIDABLE = ['S3DR_VERIFY_CONCURRENCY', 'S3DR_VERIFY_GRACE_SECONDS', 'S3DR_SAFETY_MARGIN_MS'];

const fail = (message: string): never => {
  process.stderr.write(`verify: ${message}\n`);
  process.exit(1);
};

const { values } = parseArgs({
  options: { data: { type: 'string', short: 'd' }, path: { type: 'string', short: 'p' } },
  strict: true,
});
if (values.data !== undefined && values.path !== undefined)
  fail('give the payload with --data or --path, not both');
const text =
  values.data ??
  (values.path === undefined
    ? '{}'
    : await readFile(values.path, 'utf8').catch((e: Error) => fail(e.message)));
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
// Handlers read their configuration when first imported, exactly as in Lambda. Info logs and EMF would
// go to stdout, which carries the report: off unless asked for (warnings and errors go to stderr).
Object.assign(process.env, env, {
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
});
const settings = await loadLocalSettings();
const { handler } = await import('../functions/verify.ts');

try {
  const report = await handler(payload, lambdaContext('verify', settings.verify.timeoutSeconds * 1000));
  const c = report.counts;
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(
    `verify: ok ${c.ok}, missing ${c.missing}, mismatched ${c.mismatched}, orphaned ${c.orphaned}, pending ${c.pending}; ` +
      `${report.repairsQueued} repair task(s) queued; pass ${report.pass.complete ? 'complete' : `${Math.round(report.pass.progress * 100)} % (resumes next run)`}; ` +
      `${report.requests.list} LIST, ${report.requests.head} HEAD in ${report.durationMs} ms; report s3://${env.S3DR_DR_BUCKET}/${report.reportKey}\n`,
  );
  process.exit(0);
} catch (error) {
  fail((error as Error).message);
}
