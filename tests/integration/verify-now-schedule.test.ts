import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;

beforeAll(async () => {
  // The schedule's timer fires again 1 ms after each of its invocations: as soon as one pass over the
  // scope ends, the next one starts — the race a busy machine gives the default interval now and then.
  rt = await startLocalRuntime({ port: 0, quiet: true, verifyIntervalMs: 1 });
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

it('runs a requested verify pass while the schedule keeps starting its own (the request is not starved)', async () => {
  const source = rt.config.sourceBuckets[0]!;
  await putObject(rt.s3, source, 'a.txt', Buffer.from('a'));
  await rt.drain(scaled(60_000));
  // The schedule is running passes (the deadline only ends the wait, scaled for a busy machine).
  const deadline = Date.now() + scaled(30_000);
  while (rt.status.snapshot().verify.runs < 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  expect(rt.status.snapshot().verify.runs).toBeGreaterThanOrEqual(1);
  // The timer's passes use the default grace period; this request differs (graceSeconds 0), so it
  // conflicts with each of them and must wait for one to end and then start before the next.
  const report = (await rt.verifyNow({ graceSeconds: 0 })) as VerifyReport;
  // Its own pass: with no grace period the key written a moment ago counts as ok, not pending.
  expect(report.counts).toMatchObject({ ok: 1, pending: 0, missing: 0, mismatched: 0 });
}, 120_000);
