/**
 * `npm run restore -- --data '<JSON>'` (or `--path events/restore-prefix.json`): the local equivalent of
 * `sls invoke -f restore`. Invokes the real restore handler against the running local runtime, whose
 * job worker (in `npm start`) runs the job, and prints the handler's answer — a job and its status — as
 * JSON on stdout and its one-line summary on stderr. `--data '{"job":"<id>"}'` asks for a job's status,
 * `{"job":"<id>","cancel":true}` cancels it.
 *
 * `--wait` follows the job: a live progress line on stderr (done/planned, rate, ETA), then the final
 * status with its report on stdout.
 *
 * Exit codes: 0 started, answered, or (with --wait) complete without failures; 1 bad payload, refused
 * request or no runtime; 3 (with --wait) the job failed, was cancelled, or some keys failed.
 * Restore settings (S3DR_RESTORE_TARGETS, …) are those of `npm start`: its worker runs the job.
 */
import type { JobStatus } from '../lib/jobs/model.ts';
import { prepareLocalInvoke } from '../local/invoke-cli.ts';
import { invokeHandler } from '../local/lambda-context.ts';

const { payload, context, fail, wait } = await prepareLocalInvoke('restore', {
  usage: `--data '<JSON>' or --path <file>, e.g. npm run restore -- --data '{"prefix":"photos/"}' --wait`,
  allowWait: true,
});
const { handler } = await import('../functions/restore.ts');
const { DrError } = await import('../lib/core/errors.ts');
const { showJob } = await import('./job-cli.ts');

const ask = (request: unknown): Promise<JobStatus> => invokeHandler(handler, request, context());

try {
  const code = await showJob(await ask(payload), ask, {
    wait,
    problems: (status) => (status.counts.failed ?? 0) > 0,
  });
  process.exit(code);
} catch (error) {
  // Every refusal is a DrError with a message naming the problem (unknown job, bad payload, …).
  if (error instanceof DrError) fail(error.message);
  throw error;
}
