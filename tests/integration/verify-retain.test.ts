import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { listKeys, putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;

beforeAll(async () => {
  // Delete policy `retain` (the local default is `mirror`), and the verifier on a timer as `npm start` runs it.
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    verifyIntervalMs: 300,
    env: { S3DR_DELETE_POLICY: 'retain' },
  });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

describe('verify on the local runtime (delete policy retain)', () => {
  it('reports keys deleted at the source as orphaned and leaves them in DR, with no repair', async () => {
    expect(rt.config.deletePolicy).toBe('retain');
    for (const key of ['keep/a.txt', 'keep/b.txt', 'gone/c.txt'])
      await putObject(rt.s3, source, key, Buffer.from(key));
    await rt.drain(scaled(60_000));
    await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: 'gone/c.txt' }));
    await putObject(rt.s3, dr, 'stray.txt', Buffer.from('only in DR'));
    await rt.drain(scaled(60_000));

    const report = (await rt.verifyNow({ graceSeconds: 0 })) as VerifyReport;
    await rt.drain(scaled(60_000));

    expect(report.counts).toEqual({
      ok: 2,
      missing: 0,
      mismatched: 0,
      orphaned: 2,
      pending: 0,
      unreplicable: 0,
    });
    expect([...report.samples.orphaned].sort()).toEqual(['gone/c.txt', 'stray.txt']);
    expect(report.repairsQueued).toBe(0);
    expect(await listKeys(rt.s3, dr, 'gone/')).toEqual(['gone/c.txt']);
  }, 120_000);

  it('runs on the runtime’s timer, as the schedule does, and reports to the status board', async () => {
    // The runtime's verify timer is what is tested; the deadline only ends the wait, scaled for a busy machine.
    const deadline = Date.now() + scaled(10_000);
    while (rt.status.snapshot().verify.runs < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const { verify } = rt.status.snapshot();
    expect(verify.runs).toBeGreaterThanOrEqual(2);
    expect(verify.lastPassComplete).toBe(true);
    expect(verify.lastCounts).toMatchObject({ ok: 2, missing: 0, mismatched: 0 });
  }, 30_000);
});
