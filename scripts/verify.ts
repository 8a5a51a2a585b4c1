/**
 * `npm run verify -- --data '<JSON>'` (or `--path events/verify-prefix.json`, or nothing for the scheduled
 * run): the local equivalent of `sls invoke -f verify`. Invokes the real verify handler against the
 * running local runtime, whose job worker (in `npm start`) runs the verify job, and prints the handler's
 * answer — a job and its status — as JSON on stdout and its one-line summary on stderr.
 * `--data '{"job":"<id>"}'` asks for a job's status, `{"job":"<id>","cancel":true}` cancels it.
 *
 * `--wait` follows the job: a live progress line on stderr (shards, keys checked, pass counts, rate, ETA),
 * then the final status with its report (the pass totals) on stdout.
 *
 * Exit codes: 0 started, answered, or (with --wait) the pass complete without drift; 1 bad payload,
 * refused request or no runtime; 3 (with --wait) the job failed or was cancelled, or the pass found keys
 * missing, mismatched or orphaned in DR.
 */
import type { JobStatus } from '../lib/jobs/model.ts';
import { prepareLocalInvoke } from '../local/invoke-cli.ts';
import { invokeHandler } from '../local/lambda-context.ts';

const { payload, context, fail, wait } = await prepareLocalInvoke('verify', {
  defaultPayload: '{}',
  usage: `--data '<JSON>' or --path <file>, e.g. npm run verify -- --data '{"prefix":"photos/"}' --wait`,
  allowWait: true,
});
const { handler } = await import('../functions/verify.ts');
const { DrError } = await import('../lib/core/errors.ts');
const { showJob } = await import('./job-cli.ts');

const ask = (request: unknown): Promise<JobStatus> => invokeHandler(handler, request, context());

try {
  const code = await showJob(await ask(payload), ask, {
    wait,
    // Drift: what the pass found missing, different or orphaned in DR (repairs were queued for it).
    problems: (s) => (s.counts.missing ?? 0) + (s.counts.mismatched ?? 0) + (s.counts.orphaned ?? 0) > 0,
  });
  process.exit(code);
} catch (error) {
  if (error instanceof DrError) fail(error.message);
  throw error;
}
