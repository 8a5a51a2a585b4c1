import { loadConfig } from '../lib/core/config.ts';
import type { JobStatus } from '../lib/jobs/model.ts';
import { parseJobControl } from '../lib/jobs/model.ts';
import { cancelJob, jobStatus, startRestoreJob } from '../lib/restore/job.ts';
import { parseRestorePayload } from '../lib/restore/payload.ts';
import { lambdaHandler } from './handler.ts';
import { jobDeps, queueRuntime, storesRuntime } from './runtime.ts';

// S3 stores, and SQS for the job queue only (functions/runtime.ts).
const config = loadConfig();
const runtime = { config, ...storesRuntime(config), jobQueue: queueRuntime(config).jobQueue };

/**
 * `sls invoke -f restore --data '{…}'` → a restore job, answered within seconds whatever its size:
 * a restore payload starts one (or answers with the identical job already running); `{"job": "<id>"}`
 * returns its status, and the final report once it is done; `{"job": "<id>", "cancel": true}` stops it.
 */
export const { run, handler } = lambdaHandler((event: unknown, invocation): Promise<JobStatus> => {
  const deps = jobDeps(runtime, invocation);
  const control = parseJobControl(event);
  if (control) return control.cancel ? cancelJob(control.job, deps) : jobStatus(control.job, deps);
  return startRestoreJob(parseRestorePayload(event), deps);
});
