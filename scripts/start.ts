/**
 * `npm start`: the whole s3-dr pipeline on embedded S3 + SQS emulators, on 127.0.0.1:${S3DR_PORT:-4566}.
 * Prints how to reach it, then `ready`, then a live status line (in place on a terminal, a plain line
 * every few seconds otherwise). The first Ctrl-C (or SIGTERM) takes no new work and lets in-flight
 * work finish, for at most 30 s; a second one stops at once.
 */
import { rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { checkLocalVariables, LocalSettingsError } from '../local/env.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { PAGE_PATH } from '../local/status-page.ts';

const started = Date.now();
let checked: ReturnType<typeof checkLocalVariables>;
let fresh: boolean | undefined;
try {
  ({ fresh } = parseArgs({ options: { fresh: { type: 'boolean' } }, strict: true }).values);
  checked = checkLocalVariables('start');
} catch (error) {
  if (
    !(error instanceof LocalSettingsError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
  ) {
    throw error;
  }
  process.stderr.write(`npm start: ${(error as Error).message}\n`);
  process.exit(1);
}
for (const warning of checked.warnings) process.stderr.write(`npm start: warning: ${warning}\n`);
if (fresh) await rm(checked.dataDir, { recursive: true, force: true });
const runtime = await startLocalRuntime({
  port: checked.port,
  verifyIntervalMs: checked.verifyIntervalMs,
  dataDir: checked.dataDir,
});
const { config, endpoint } = runtime;
const out = process.stdout;

out.write(
  `s3-dr local: endpoint ${endpoint} · source ${config.sourceBuckets.map((b) => `s3://${b}`).join(', ')} → DR s3://${config.drBucket} · delete policy ${config.deletePolicy}\n` +
    `  try:  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=${config.sourceRegion} aws --endpoint-url ${endpoint} s3 cp ./file "s3://${config.sourceBuckets[0]}/a b+c.txt"\n` +
    `        aws --endpoint-url ${endpoint} s3 ls s3://${config.drBucket}/ · status page ${endpoint}${PAGE_PATH}\n` +
    `  data: ${checked.dataDir} (kept across restarts; \`npm start -- --fresh\` starts empty)\n`,
);
out.write(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

const tty = out.isTTY === true;
const timer = setInterval(
  () => {
    const line = runtime.status.line();
    if (tty) out.write(`\r\x1b[2K${line.slice(0, (out.columns ?? 200) - 1)}`);
    else out.write(`${new Date().toISOString()} ${line}\n`);
  },
  tty ? 250 : 5_000,
);

/** How long Ctrl-C waits for in-flight work before the runtime stops anyway. */
const GRACE_MS = 30_000;
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) {
    // A second signal: the user does not want to wait. The emulator child exits with this process.
    out.write(`${signal} again: stopping now, abandoning in-flight work\n`);
    process.exit(130);
  }
  stopping = true;
  clearInterval(timer);
  out.write(
    `${tty ? '\n' : ''}${signal}: no new work; finishing in-flight work (up to ${GRACE_MS / 1000} s, Ctrl-C again to stop now)…\n`,
  );
  const left = await runtime.stop(GRACE_MS);
  const abandoned =
    left.ingest + left.batches > 0
      ? ` (abandoned after ${GRACE_MS / 1000} s: ${left.ingest} ingest invocations, ${left.batches} replicate batches)`
      : '';
  out.write(`stopped${abandoned}. ${runtime.status.line()}\n`);
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
