/**
 * The fault-injection scenario shared by tests/integration/faults*.test.ts: the local runtime with a
 * {@link startFaultProxy} between the handlers and the emulator, a workload of writes, overwrites,
 * deletes, delete-then-rewrites and multipart uploads written while replication is in flight, then a
 * drain, a verify pass with repair, and a second drain. What the tests assert is left to them.
 */
import { channel } from 'node:diagnostics_channel';
import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { RESERVED_PREFIX } from '../../lib/core/config.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import type { OutcomeEvent } from '../../lib/core/telemetry.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import {
  type ExhaustFault,
  FAULT_KINDS,
  type FaultProxy,
  type FaultProxyOptions,
  type InjectedFault,
  startFaultProxy,
} from './fault-proxy.ts';
import { bodyFor, MiB, putMultipart, putObject } from './objects.ts';
import { scaled } from './time-scale.ts';

export interface FaultScenarioOptions {
  deletePolicy: 'mirror' | 'retain';
  objects: number;
  multipart: number;
  rate: number;
  seed: number;
  /** SDK attempts per request (S3DR_MAX_ATTEMPTS): low enough that some faults exhaust them. */
  maxAttempts: number;
  /** SDK request timeout (S3DR_REQUEST_TIMEOUT_MS); `timeout` faults hold answers 1.5 × this. */
  requestTimeoutMs: number;
  proxy?: Partial<FaultProxyOptions>;
  /** Let the handlers log (default: quiet). */
  logs?: boolean;
}

export interface FaultScenario {
  rt: LocalRuntime;
  proxy: FaultProxy;
  source: string;
  dr: string;
  /** Keys that exist in the source at the end, and keys deleted for good. */
  live: Set<string>;
  deleted: Set<string>;
  /** Replicate failures by error name (the `Failures` metric's events). */
  replicateFailures: Record<string, number>;
  /**
   * Objects replicated (copied) when the overwrites and deletes began: fewer than were written means
   * those changes raced replication still in flight, as the workload intends.
   */
  copiedWhenRewritesBegan: number;
  /** Verify runs that failed (their error names), and the last report. */
  verifyFailures: string[];
  verifyReport: unknown;
}

/** Every object of a bucket (outside s3-dr's reserved prefix), key → ETag:size. Keys must be plain ASCII. */
export async function listing(s3: S3Client, bucket: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      if (o.Key && !o.Key.startsWith(RESERVED_PREFIX)) out.set(o.Key, `${o.ETag}:${o.Size}`);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Messages in a queue (received with a zero visibility timeout, so they stay). */
export async function queueMessages(rt: LocalRuntime, url: string): Promise<string[]> {
  const r = await rt.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: 0,
    }),
  );
  return (r.Messages ?? []).map((m) => m.Body ?? '');
}

/**
 * Operations failed on every attempt: every kind of fault on a copy, the two error answers on a HEAD
 * (which has no body, so the SDK names them differently), a held part copy (executed each time, never
 * answered in time), and ingest's SendMessageBatch (its invocation fails and Lambda's async retry sends
 * the tasks again).
 */
export const EXHAUST_EVERY_PATH: readonly ExhaustFault[] = [
  ...FAULT_KINDS.map((kind) => ({ operation: 'CopyObject', kind })),
  { operation: 'HeadObject', kind: 'slowdown' },
  { operation: 'HeadObject', kind: 'internal' },
  { operation: 'UploadPartCopy', kind: 'timeout' },
  { operation: 'SQS:SendMessageBatch', kind: 'slowdown' },
  { operation: 'SQS:SendMessageBatch', kind: 'reset' },
];

/** Keys of plain ASCII only: fauxqs pages listings of mixed-case or punctuated keys wrongly past 1,000. */
const keyOf = (i: number) => `faults/d${String(i % 16).padStart(2, '0')}/o${String(i).padStart(5, '0')}`;
const sizeOf = (i: number) => (i * 373) % 5000;

/** Starts the runtime behind the proxy, runs the workload to quiescence, verifies with repair. */
export async function runFaultScenario(options: FaultScenarioOptions): Promise<FaultScenario> {
  let proxy: FaultProxy | undefined;
  const replicateFailures: Record<string, number> = {};
  const onOutcome = (message: unknown) => {
    const event = message as OutcomeEvent;
    if (event.type === 'replicate-failed') {
      replicateFailures[event.reason] = (replicateFailures[event.reason] ?? 0) + 1;
    }
  };
  channel('s3dr:outcome').subscribe(onOutcome);
  const rt = await startLocalRuntime({
    port: 0,
    quiet: !options.logs,
    // Long enough that a batch slowed by held answers is not redelivered while still running.
    visibilityTimeoutSeconds: 6,
    maxReceiveCount: 5,
    ingestRetryDelayMs: 200,
    env: {
      S3DR_DELETE_POLICY: options.deletePolicy,
      S3DR_MAX_ATTEMPTS: String(options.maxAttempts),
      S3DR_REQUEST_TIMEOUT_MS: String(options.requestTimeoutMs),
    },
    handlerEndpoint: async (target) => {
      proxy = await startFaultProxy({
        target,
        rate: options.rate,
        seed: options.seed,
        holdMs: Math.round(options.requestTimeoutMs * 1.5),
        ...options.proxy,
      });
      return proxy.endpoint;
    },
  });
  if (!proxy) throw new Error('the runtime did not ask for a handler endpoint');
  const source = rt.config.sourceBuckets[0]!;
  const dr = rt.config.drBucket;
  const live = new Set<string>();
  const deleted = new Set<string>();
  const put = async (key: string, version: number, size: number) => {
    await putObject(rt.s3, source, key, bodyFor(key, version, size), {
      metadata: { version: String(version) },
      contentType: 'application/octet-stream',
    });
    live.add(key);
    deleted.delete(key);
  };
  const remove = async (key: string) => {
    await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    live.delete(key);
    deleted.add(key);
  };

  // Writes, and multipart uploads alongside them.
  const n = options.objects;
  const multipartKeys = Array.from({ length: options.multipart }, (_, j) => `faults/mp/o${j}`);
  await Promise.all([
    mapConcurrent(
      Array.from({ length: n }, (_, i) => i),
      16,
      (i) => put(keyOf(i), 1, sizeOf(i)),
    ),
    mapConcurrent(multipartKeys, 2, async (key, j) => {
      await putMultipart(rt.s3, source, key, [5 * MiB, 5 * MiB, 1000 + j], { version: '1' });
      live.add(key);
    }),
  ]);
  // While that is still replicating: overwrites, deletes, deletes followed by a rewrite, and a
  // multipart object replaced by another.
  const copiedWhenRewritesBegan = rt.status.snapshot().objectsCopied;
  await mapConcurrent(
    Array.from({ length: n }, (_, i) => i),
    16,
    async (i) => {
      if (i % 5 === 1) await put(keyOf(i), 2, sizeOf(i) + 1);
      else if (i % 10 === 3) await remove(keyOf(i));
      else if (i % 50 === 7) {
        await remove(keyOf(i));
        await put(keyOf(i), 3, sizeOf(i) + 2);
      }
    },
  );
  if (multipartKeys[0]) {
    await putMultipart(rt.s3, source, multipartKeys[0], [5 * MiB, 5 * MiB, 77], { version: '2' });
  }
  await rt.drain(scaled(240_000));

  // One verify pass with repair, then drain the repairs. The verifier's own requests go fault-free:
  // the claim under test is about the replication path (verify's fault handling has its own tests).
  const verifyFailures: string[] = [];
  proxy.setRate(0);
  let verifyReport: unknown;
  for (let run = 0; run < 6; run++) {
    try {
      verifyReport = await rt.verifyNow({ repair: true, graceSeconds: 0 });
      const complete = (verifyReport as { pass?: { complete?: boolean } }).pass?.complete;
      if (complete !== false) break;
    } catch (error) {
      verifyFailures.push(error instanceof Error ? error.name : String(error));
    }
  }
  // verifyNow returns once the job's report is written; the worker that wrote it goes on (the report's
  // copy under .s3dr/reports/, the superseded ranges' cleanup, lib/verify/job-report.ts). Those are the
  // verifier's requests too: faults come back only once the job workers are idle, or a fault the SDK
  // gives up on there would surface with no replicate failure to account for it.
  await rt.jobsIdle(scaled(120_000));
  proxy.setRate(options.rate);
  await rt.drain(scaled(120_000));
  channel('s3dr:outcome').unsubscribe(onOutcome);
  return {
    rt,
    proxy,
    source,
    dr,
    live,
    deleted,
    replicateFailures,
    copiedWhenRewritesBegan,
    verifyFailures,
    verifyReport,
  };
}

/** Stops the runtime, then the proxy. */
export async function stopFaultScenario(scenario: FaultScenario | undefined): Promise<void> {
  await scenario?.rt.stop();
  await scenario?.proxy.close();
}

/**
 * The error names a fault can have when it reaches our code, had the SDK given up on it: what
 * replicate's `Failures` are counted under. A HEAD answer has no body to name the error, so the SDK
 * calls 5xx answers to HEAD `Unknown`. A reset connection comes out of the SDK's HTTP handler as a
 * `TimeoutError` (it renames ECONNRESET) — or, under jest's module loader, as a plain `Error` (socket
 * hang up) — so resets and timeouts are counted together.
 */
export function surfacedErrorClass(fault: InjectedFault): string {
  switch (fault.kind) {
    case 'timeout':
    case 'reset':
      return 'TimeoutError|Error';
    case 'slowdown':
      return fault.operation === 'HeadObject' ? 'Unknown' : 'SlowDown';
    case 'internal':
      return fault.operation === 'HeadObject' ? 'Unknown' : 'InternalError';
  }
}

export interface FaultLedger {
  injected: number;
  byKind: Record<string, number>;
  retriedBySdk: number;
  sdkRetries: number;
  /**
   * Faults the SDK gave up on; `quota`: of those, the ones it gave up on before its last attempt (its
   * retry quota had run dry).
   */
  surfaced: { s3: number; s3Keys: number; sqs: number; quota: number };
  counted: { replicate: Record<string, number>; ingestInvocations: number; verify: Record<string, number> };
  /**
   * Failures missing for surfaced faults (all must be zero). S3 faults are grouped by object key: the
   * faults of one replicate attempt (its parallel part copies, say) fail that one record, so a key needs
   * at least one counted failure, and a key whose surfaced faults all have one error class needs one
   * failure of that class.
   */
  unaccounted: { s3Keys: number; byName: Record<string, number>; sqs: number };
  untraceable: number;
}

/**
 * Matches injected faults against what the system reports. A fault the SDK retried shows up as a later
 * attempt of the same operation (amz-sdk-invocation-id); a fault it gave up on failed that operation, so
 * it must show up as a failed replicate record (counted by error name) or a failed ingest invocation.
 * Other failures (a source that changed under a copy, a slow machine's timeouts) only add to the counts.
 */
export function faultLedger(s: FaultScenario): FaultLedger {
  const a = s.proxy.accounting();
  const add = (m: Record<string, number>, k: string, n = 1) => {
    m[k] = (m[k] ?? 0) + n;
  };
  const namesByKey = new Map<string, Set<string>>();
  let surfacedS3 = 0;
  let surfacedSqs = 0;
  for (const f of a.surfaced) {
    if (f.operation.startsWith('SQS:')) {
      surfacedSqs += 1;
      continue;
    }
    surfacedS3 += 1;
    namesByKey.set(f.key, (namesByKey.get(f.key) ?? new Set()).add(surfacedErrorClass(f)));
  }
  const verify: Record<string, number> = {};
  for (const name of s.verifyFailures) add(verify, name);
  const counted = (names?: string) =>
    names === undefined
      ? Object.values(s.replicateFailures).reduce((x, y) => x + y, 0) + s.verifyFailures.length
      : names
          .split('|')
          .reduce((sum, name) => sum + (s.replicateFailures[name] ?? 0) + (verify[name] ?? 0), 0);
  const keysByName: Record<string, number> = {};
  for (const names of namesByKey.values()) if (names.size === 1) add(keysByName, [...names][0]!);
  const byName: Record<string, number> = {};
  for (const [name, keys] of Object.entries(keysByName)) {
    if (keys > counted(name)) byName[name] = keys - counted(name);
  }
  const ingestInvocations = s.rt.status.snapshot().ingestFailures;
  return {
    injected: a.injected,
    byKind: a.byKind,
    retriedBySdk: a.retried.length,
    sdkRetries: a.retries,
    surfaced: {
      s3: surfacedS3,
      s3Keys: namesByKey.size,
      sqs: surfacedSqs,
      quota: a.surfaced.filter((f) => (f.attempt ?? 0) < (f.maxAttempts ?? 0)).length,
    },
    counted: { replicate: { ...s.replicateFailures }, ingestInvocations, verify },
    unaccounted: {
      s3Keys: Math.max(0, namesByKey.size - counted()),
      byName,
      sqs: Math.max(0, surfacedSqs - ingestInvocations),
    },
    untraceable: a.untraceable.length,
  };
}
