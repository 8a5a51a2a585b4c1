/**
 * The pipeline under faults: 10 % of the handlers' S3 and SQS requests fail (503 SlowDown, 500
 * InternalError, connection reset after the request took effect, answer held past the SDK timeout).
 * After the queue drains and a verify pass with repair, DR must equal the source, the DLQ must be empty,
 * and every injected fault must be accounted for: retried by the SDK, or surfaced to our code and
 * counted as a failure (then retried by SQS or Lambda's async retry).
 *
 * Besides the random share, some operations fail on every attempt (EXHAUST_EVERY_PATH), so that the SDK gives up on
 * each kind of fault and the error reaches our code: a random 10 % does that to about one operation in a
 * thousand, which took a workload of 2,000 objects to hit at all, and then not every kind. With the paths
 * forced, a few hundred objects exercise them all, and the tests assert that they did.
 *
 * Size and seed: S3DR_FAULTS_OBJECTS (default 300), S3DR_FAULTS_SEED (default 7); S3DR_FAULTS_SUMMARY=<file>
 * writes the fault accounting there.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FAULT_KINDS } from '../helpers/fault-proxy.ts';
import {
  EXHAUST_EVERY_PATH,
  type FaultScenario,
  faultLedger,
  listing,
  queueMessages,
  runFaultScenario,
  stopFaultScenario,
} from '../helpers/fault-workload.ts';
import { snapshots } from '../helpers/objects.ts';

const objects = Number(process.env.S3DR_FAULTS_OBJECTS ?? 300);
const seed = Number(process.env.S3DR_FAULTS_SEED ?? 7);
let s: FaultScenario;

beforeAll(async () => {
  s = await runFaultScenario({
    deletePolicy: 'retain',
    objects,
    multipart: 3,
    rate: 0.1,
    seed,
    maxAttempts: 3,
    // Far above a request's latency on a busy machine (at 2 s, CPU starvation beside three busy
    // processes timed out good requests); `timeout` faults hold their answer 1.5 × this.
    requestTimeoutMs: 5000,
    proxy: { exhaust: EXHAUST_EVERY_PATH },
  });
}, 420_000);

afterAll(async () => {
  await stopFaultScenario(s);
});

describe(`the pipeline with 10 % of handler requests failing (retain, ${objects} objects, seed ${seed})`, () => {
  it('sends the handlers’ S3 and SQS traffic through the fault proxy and injects every kind of fault', () => {
    const ops = s.proxy.operations();
    expect(ops['SQS:SendMessageBatch']).toBeGreaterThan(0);
    expect(ops.HeadObject).toBeGreaterThan(0);
    expect(ops.CopyObject).toBeGreaterThan(0);
    expect(ops.UploadPartCopy).toBeGreaterThan(0);
    for (const kind of FAULT_KINDS) expect(s.proxy.counts()[kind]).toBeGreaterThan(0);
  });

  it('overwrites and deletes objects while their replication is still in flight', () => {
    expect(s.copiedWhenRewritesBegan).toBeLessThan(objects);
    expect(s.deleted.size).toBeGreaterThan(0);
  });

  it('has the SDK retry every kind of fault, and give up on each operation failed on every attempt', () => {
    const { retried, surfaced } = s.proxy.accounting();
    expect(new Set(retried.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    const exhausted = s.proxy.exhausted();
    expect(exhausted.filter((e) => e.invocationId === undefined)).toEqual([]);
    for (const e of exhausted) {
      // The last attempt the SDK made of that operation got the fault: it gave up on it.
      const last = surfaced.find((f) => f.invocationId === e.invocationId);
      expect({ ...e, surfaced: last?.kind }).toEqual({ ...e, surfaced: e.kind });
    }
  });

  it('leaves every live source object in DR with the same ETag and size, and only deleted keys extra', async () => {
    const [src, copy] = await Promise.all([listing(s.rt.s3, s.source), listing(s.rt.s3, s.dr)]);
    expect([...src.keys()].sort()).toEqual([...s.live].sort());
    const missingOrDifferent = [...src].filter(([key, v]) => copy.get(key) !== v).map(([key]) => key);
    expect(missingOrDifferent).toEqual([]);
    // retain: DR keeps deleted keys (when they were replicated before the delete), nothing else.
    const extra = [...copy.keys()].filter((key) => !src.has(key));
    expect(extra.filter((key) => !s.deleted.has(key))).toEqual([]);
  });

  it('copies bytes and metadata exactly (a sample, and every multipart object)', async () => {
    const keys = [...s.live].filter((key, i) => i % 25 === 0 || key.startsWith('faults/mp/'));
    const [src, copy] = await Promise.all([
      snapshots(s.rt.s3, s.source, keys),
      snapshots(s.rt.s3, s.dr, keys),
    ]);
    expect(copy).toEqual(src);
    expect(src.filter((o) => /-3"$/.test(o?.etag ?? ''))).toHaveLength(3);
  });

  it('dead-letters nothing', async () => {
    expect(await queueMessages(s.rt, s.rt.dlqUrl)).toEqual([]);
  });

  it('accounts for every injected fault: retried by the SDK, or surfaced and counted as a failure', () => {
    const ledger = faultLedger(s);
    if (process.env.S3DR_FAULTS_SUMMARY)
      writeFileSync(process.env.S3DR_FAULTS_SUMMARY, JSON.stringify(ledger, null, 2));
    // Every fault is traced by the SDK's own headers: to a later attempt of the same operation, or to
    // that operation's end (the SDK gave up: attempts used up, or its retry quota ran dry).
    expect(ledger.untraceable).toBe(0);
    expect(ledger.retriedBySdk).toBeGreaterThan(0);
    expect(ledger.sdkRetries).toBeGreaterThanOrEqual(ledger.retriedBySdk);
    // Faults reached our code on both paths (EXHAUST makes sure), so the checks below are not vacuous.
    expect(ledger.surfaced.s3Keys).toBeGreaterThan(0);
    expect(ledger.surfaced.sqs).toBeGreaterThan(0);
    // Every fault the SDK gave up on failed one replicate record (counted by error name), one ingest
    // invocation or one verify run: none vanished.
    expect(ledger.unaccounted).toEqual({ s3Keys: 0, byName: {}, sqs: 0 });
  });
});
