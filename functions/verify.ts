import { parseVerifyRequest } from '../lib/verify/payload.ts';
import type { VerifyReport } from '../lib/verify/report.ts';
import { verifySources } from '../lib/verify/run.ts';
import { withRunLease } from '../lib/verify/run-lease.ts';
import { lambdaHandler } from './handler.ts';
import { createRuntime } from './runtime.ts';

const runtime = createRuntime();

/**
 * Schedule event or `sls invoke -f verify --data '{…}'` → validated request → verify (under the run
 * lease of that request: a second concurrent run of it is refused) → report.
 */
export const { run, handler } = lambdaHandler((event: unknown, invocation): Promise<VerifyReport> => {
  const request = parseVerifyRequest(event, runtime.config);
  return withRunLease(
    { name: 'verify', request, runId: invocation.requestId },
    { store: runtime.dr, clock: invocation.clock, log: invocation.logger },
    () =>
      verifySources(request, {
        ...invocation,
        sourceStore: runtime.sourceStore,
        dr: runtime.dr,
        queue: () => runtime.queue(),
        settings: runtime.config,
      }),
  );
});
