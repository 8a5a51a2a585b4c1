/**
 * `sls invoke -f verify` sent twice (osls re-sends a synchronous invoke that is silent for 120 s):
 * the real handlers on the local runtime, whose emulator answers conditional writes as S3 does
 * (tests/integration/emulator-conditional-writes.test.ts), run the request once and refuse the copy.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { ConcurrentRunError } from '../../lib/core/errors.ts';
import { invokeHandler, lambdaContext } from '../../local/lambda-context.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
type Handler = (payload: unknown, context: Context) => Promise<unknown>;
let verify: Handler;

beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true });
  verify = (await import('../../functions/verify.ts')).handler as unknown as Handler;
  const source = rt.config.sourceBuckets[0] as string;
  for (const key of ['lease/a.txt', 'lease/b.txt', 'lease/c.txt'])
    await putObject(rt.s3, source, key, Buffer.from(key));
  await rt.drain(scaled(60_000));
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

const leases = async () =>
  (await rt.s3.send(new ListObjectsV2Command({ Bucket: rt.config.drBucket, Prefix: '.s3dr/leases/' })))
    .Contents ?? [];

describe('run lease on the local runtime', () => {
  // Restore is a job now: an identical start answers with the running job instead (restore-jobs.test.ts).
  it.each([['verify', () => verify, { prefix: 'lease/' }]])(
    'runs a %s request sent twice at once only once, and refuses the copy naming the first run',
    async (name, fn, payload) => {
      // Act: the same payload twice at the same moment, as a re-sent invoke would arrive.
      const first = lambdaContext(name, 900_000);
      const second = lambdaContext(name, 900_000);
      const results = await Promise.allSettled([
        invokeHandler(fn(), payload, first),
        invokeHandler(fn(), payload, second),
      ]);

      // Assess: one ran, one was refused and names the one that ran.
      const ran = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ran).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]?.reason).toBeInstanceOf(ConcurrentRunError);
      const winner = results[0]?.status === 'fulfilled' ? first : second;
      expect(String(refused[0]?.reason)).toContain(
        `${name} is already running this request: run ${winner.awsRequestId}`,
      );

      // The lease ended with the run: the same request runs again at once.
      expect(await leases()).toEqual([]);
      await expect(invokeHandler(fn(), payload, lambdaContext(name, 900_000))).resolves.toBeDefined();
    },
    120_000,
  );
});
