import { loadConfig } from '../lib/core/config.ts';
import type { JobStatus } from '../lib/jobs/model.ts';
import { parseJobControl } from '../lib/jobs/model.ts';
import { cancelVerifyJob, startVerifyJob, verifyStatus } from '../lib/verify/job.ts';
import { parseVerifyRequest } from '../lib/verify/payload.ts';
import { lambdaHandler } from './handler.ts';
import { jobControlDeps, queueRuntime, storesRuntime } from './runtime.ts';

// S3 stores (the DR bucket), and SQS for the job queue only (functions/runtime.ts).
const config = loadConfig();
const runtime = { config, ...storesRuntime(config), jobQueue: queueRuntime(config).jobQueue };

/**
 * Schedule event or `sls invoke -f verify --data '{…}'` → a verify job, answered at once: a verify
 * payload starts one (or answers with the identical job already running); the job worker runs the pass
 * (lib/verify/job.ts). `{"job": "<id>"}` returns its status, and its report once the pass is complete;
 * `{"job": "<id>", "cancel": true}` stops it.
 */
export const { run, handler } = lambdaHandler((event: unknown, invocation): Promise<JobStatus> => {
  const deps = jobControlDeps(runtime, invocation);
  const control = parseJobControl(event);
  if (control) return control.cancel ? cancelVerifyJob(control.job, deps) : verifyStatus(control.job, deps);
  return startVerifyJob(parseVerifyRequest(event, config), deps);
});
