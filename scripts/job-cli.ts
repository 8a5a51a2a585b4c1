/**
 * What `npm run restore` and `npm run verify` share once their handler answered: print the job's status
 * or, with `--wait`, follow the job — a live progress line on stderr (the status summary: done/planned or
 * keys checked, rate, ETA) — and print its final status with its report.
 */
import type { JobStatus } from '../lib/jobs/model.ts';

const TERMINAL: readonly JobStatus['state'][] = ['complete', 'failed', 'cancelled'];
/** How often --wait asks for the job's status: a person's progress line, not a test's assertion. */
const POLL_MS = 1000;

/**
 * Prints `first` (the answer to the invoke) or, with `wait`, follows its job with `ask` until it ends.
 * Returns the exit code: 0 started, answered, or (with --wait) complete and clean; 3 (with --wait) the
 * job failed, was cancelled, or `problems` says its report is not clean.
 */
export async function showJob(
  first: JobStatus,
  ask: (request: unknown) => Promise<JobStatus>,
  options: { wait: boolean; problems: (status: JobStatus) => boolean },
): Promise<number> {
  let status = first;
  if (options.wait) {
    const live = process.stderr.isTTY;
    while (!TERMINAL.includes(status.state)) {
      process.stderr.write(live ? `\r\x1b[2K${status.summary}` : `${status.summary}\n`);
      await new Promise((r) => setTimeout(r, POLL_MS));
      status = await ask({ job: status.job });
    }
    if (live) process.stderr.write('\r\x1b[2K');
  }
  process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  process.stderr.write(`${status.summary}\n`);
  const failed = status.state === 'failed' || status.state === 'cancelled' || options.problems(status);
  return options.wait && failed ? 3 : 0;
}
