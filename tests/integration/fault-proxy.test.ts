/**
 * The fault proxy's `exhaust` plan (tests/helpers/fault-proxy.ts), which the faults suites rely on to
 * make the SDK give up on an operation whatever the size of their workload: an operation it claims fails
 * on every attempt, and nothing else does.
 *
 * What it leans on is the SDK's documented retry behaviour (AWS SDKs and Tools Reference Guide, "Retry
 * behavior", https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html): in standard
 * mode a transient error (a 500 or 503 answer, a dropped connection) is retried up to max_attempts
 * attempts in all, then surfaces — here, a 503 after exactly the three attempts the client allows.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { emulatorClient, startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';

let emulator: TestEmulator;
let proxy: FaultProxy;
let client: ReturnType<typeof emulatorClient>;
const BUCKET = 'proxied';

beforeAll(async () => {
  emulator = await startTestEmulator({ buckets: [BUCKET] });
  await emulator.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: 'body' }));
  proxy = await startFaultProxy({
    target: emulator.emulator.endpoint,
    rate: 0,
    seed: 1,
    exhaust: [{ operation: 'HeadObject', kind: 'slowdown' }],
  });
  client = emulatorClient(proxy.endpoint, { maxAttempts: 3 });
});

afterAll(async () => {
  client?.destroy();
  await proxy?.close();
  await emulator?.stop();
});

const head = () => client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'k' }));

describe('the fault proxy’s exhaust plan', () => {
  it('claims no operation while the fault rate is 0', async () => {
    await expect(head()).resolves.toMatchObject({ ContentLength: 4 });
    expect(proxy.exhausted()).toEqual([{ operation: 'HeadObject', kind: 'slowdown' }]);
  });

  it('fails the claimed operation on every attempt, so the SDK gives up on it, and no other', async () => {
    // Above 0, so the plan is armed; no draw of the seeded generator (a multiple of 2^-32) is below it.
    proxy.setRate(Number.MIN_VALUE);
    await expect(head()).rejects.toMatchObject({ $metadata: { httpStatusCode: 503, attempts: 3 } });
    const [claimed] = proxy.exhausted();
    expect(claimed?.invocationId).toEqual(expect.any(String));
    const { retried, surfaced } = proxy.accounting();
    expect(retried.map((f) => [f.kind, f.attempt])).toEqual([
      ['slowdown', 1],
      ['slowdown', 2],
    ]);
    expect(surfaced).toEqual([
      expect.objectContaining({ kind: 'slowdown', attempt: 3, invocationId: claimed?.invocationId }),
    ]);
    // Each entry is claimed once: the next HEAD, and other operations, go through.
    await expect(head()).resolves.toMatchObject({ ContentLength: 4 });
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' }));
    expect(await got.Body?.transformToString()).toBe('body');
    expect(proxy.faults()).toHaveLength(3);
  });
});
