/**
 * The fault scenario of faults.test.ts under the `mirror` delete policy, where DR must end up equal to
 * the source — deletes included — not merely a superset. (Locally the DR bucket is not versioned, so a
 * mirrored delete really removes the copy; on AWS it leaves a delete marker.)
 *
 * As there, some operations fail on every attempt (EXHAUST_EVERY_PATH), so that errors reach our code on
 * every path whatever the workload's size.
 *
 * Size and seed: S3DR_FAULTS_MIRROR_OBJECTS (default 150), S3DR_FAULTS_SEED (default 7).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  EXHAUST_EVERY_PATH,
  type FaultScenario,
  faultLedger,
  listing,
  queueMessages,
  runFaultScenario,
  stopFaultScenario,
} from '../helpers/fault-workload.ts';

const objects = Number(process.env.S3DR_FAULTS_MIRROR_OBJECTS ?? 150);
const seed = Number(process.env.S3DR_FAULTS_SEED ?? 7);
let s: FaultScenario;

beforeAll(async () => {
  s = await runFaultScenario({
    deletePolicy: 'mirror',
    objects,
    multipart: 2,
    rate: 0.1,
    seed: seed + 1,
    maxAttempts: 3,
    // Far above a request's latency on a busy machine (at 2 s, CPU starvation beside three busy
    // processes timed out good requests); `timeout` faults hold their answer 1.5 × this.
    requestTimeoutMs: 5000,
    proxy: { exhaust: EXHAUST_EVERY_PATH },
  });
}, 300_000);

afterAll(async () => {
  await stopFaultScenario(s);
});

describe(`the pipeline with 10 % of handler requests failing (mirror, ${objects} objects)`, () => {
  it('leaves DR equal to the source: same keys, ETags and sizes, deleted keys gone', async () => {
    expect(s.rt.config.deletePolicy).toBe('mirror');
    const [src, copy] = await Promise.all([listing(s.rt.s3, s.source), listing(s.rt.s3, s.dr)]);
    expect([...src.keys()].sort()).toEqual([...s.live].sort());
    expect(Object.fromEntries(copy)).toEqual(Object.fromEntries(src));
    expect(s.deleted.size).toBeGreaterThan(0);
  });

  it('dead-letters nothing and accounts for every injected fault', async () => {
    expect(await queueMessages(s.rt, s.rt.dlqUrl)).toEqual([]);
    const ledger = faultLedger(s);
    expect(ledger.injected).toBeGreaterThan(0);
    expect(s.proxy.exhausted().filter((e) => e.invocationId === undefined)).toEqual([]);
    expect(ledger.surfaced.s3Keys).toBeGreaterThan(0);
    expect(ledger.surfaced.sqs).toBeGreaterThan(0);
    expect(ledger.untraceable).toBe(0);
    expect(ledger.unaccounted).toEqual({ s3Keys: 0, byName: {}, sqs: 0 });
  });
});
