import { toDrKey } from '../../lib/core/key-mapping.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { startLocalRuntime } from '../../local/runtime.ts';
import { type RestoreHandler, restoreReport } from '../helpers/jobs.ts';
import { scaled } from '../helpers/time-scale.ts';
import { assertOnlyTestData, E2E_ROOT } from './safety.ts';
import { type E2eOptions, type E2eTarget, multipartPartSizes } from './target.ts';

export async function openLocalTarget(options: E2eOptions): Promise<E2eTarget> {
  const rt = await startLocalRuntime({ port: 0, quiet: true });
  try {
    const { config } = rt;
    // The handler reads its configuration at import, from the environment the runtime just set.
    const restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
    const sourceBucket = config.sourceBuckets[0]!;
    const drKey = (key: string) => toDrKey(config.keyLayout, sourceBucket, key);
    // The same checks as against a deployed stage (trivially passed by a fresh emulator), so the code
    // that guards real stages runs in every CI build.
    await assertOnlyTestData(rt.s3, config.drBucket, drKey(E2E_ROOT), 'the local runtime');
    multipartPartSizes(config.multipartThreshold, options.maxMultipartBytes);
    return {
      description: `the local runtime (${rt.endpoint})`,
      source: { s3: rt.s3, bucket: sourceBucket },
      dr: { s3: rt.s3, bucket: config.drBucket },
      deletePolicy: config.deletePolicy,
      multipartThreshold: config.multipartThreshold,
      drKey,
      verify: async (payload) => (await rt.verifyNow(payload)) as VerifyReport,
      // A restore is a job: started, followed to its end, and its final report returned.
      restore: (payload) => restoreReport(rt, restore, payload),
      settle: () => rt.drain(options.waitSeconds ? options.waitSeconds * 1000 : scaled(60_000)),
      waitMs: (options.waitSeconds ?? 60) * 1000,
      close: async () => {
        await rt.stop();
      },
    };
  } catch (error) {
    await rt.stop();
    throw error;
  }
}
