/**
 * `sls invoke -f verify` sent twice (osls re-sends a synchronous invoke that is silent for 120 s):
 * the real handlers on the local runtime, whose emulator answers conditional writes as S3 does
 * (tests/integration/emulator-conditional-writes.test.ts), start one verify job and answer the copy
 * with it; the job's runs hold the run lease of its request, released when each run ends.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';
import { invokeVerify, type VerifyHandler } from '../helpers/verify.ts';

let rt: LocalRuntime;
let verify: VerifyHandler;

beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true });
  verify = (await import('../../functions/verify.ts')).handler as unknown as VerifyHandler;
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

describe('a verify request sent twice on the local runtime', () => {
  // Restore is a job too: restore-jobs.test.ts shows the same for it.
  it('starts one job, answers the copy with it, and leaves no lease behind', async () => {
    // Act: the same payload twice at the same moment, as a re-sent invoke would arrive.
    const payload = { prefix: 'lease/', graceSeconds: 0 };
    const [a, b] = await Promise.all([invokeVerify(verify, payload), invokeVerify(verify, payload)]);

    // Assess: one job; the job runs the request once, and its lease ended with its run.
    expect(a.job).toBe(b.job);
    expect([a.alreadyRunning, b.alreadyRunning].filter(Boolean)).toHaveLength(1);
    await rt.jobsIdle();
    const done = await invokeVerify(verify, { job: a.job });
    expect(done).toMatchObject({ state: 'complete', runs: 1, counts: { ok: 3 } });
    expect(await leases()).toEqual([]);
  }, 120_000);
});
