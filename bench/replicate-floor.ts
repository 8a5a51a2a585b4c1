/**
 * The floor under `npm run bench`'s s3-dr row: the same writer (bench/load-writer.ts, its own process)
 * writes N objects into the source bucket of a fresh emulator process and, while it writes, this process
 * sends one CopyObject per written object into the DR bucket — the request replicate's fast path sends
 * (docs/design.md, invariant 1: a fresh small upload is one conditional COPY, `CopySourceIfMatch` the
 * ETag the event carried) — from the SDK client s3-dr uses (lib/aws/clients.ts, the local runtime's
 * configuration), as many at once as the pipeline has in flight. No ingest, no SQS, no poller, no
 * handler: the copy starts when the emulator reports the write, where the pipeline's ingest starts.
 *
 * The project makes every S3 and SQS request through the AWS SDK v3, and no SDK-based replicator can bring DR
 * up to date faster on this machine: "write, then rclone sync" ÷ this floor is the best ratio issue #16's
 * target could see, and s3-dr ÷ floor is what its pipeline (ingest, SQS, handlers) costs on top.
 */
import { loadavg } from 'node:os';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Clients } from '../lib/aws/clients.ts';
import { copySourceHeader } from '../lib/aws/s3-object-store.ts';
import { loadConfig } from '../lib/core/config.ts';
import { drPrefixFor } from '../lib/core/key-mapping.ts';
import { startEmulatorProcess } from '../local/emulator.ts';
import { localEnv } from '../local/env.ts';
import { percentile } from './replicate.ts';
import { writeObjects } from './write-objects.ts';

export interface CopyFloorResult {
  objects: number;
  bytesEach: number;
  /** The writer's concurrency (as the s3-dr row's). */
  concurrency: number;
  /** CopyObject requests in flight at most: the pipeline's pollers × its batch size. */
  copyConcurrency: number;
  writeSeconds: number;
  endToEndSeconds: number;
  objectsPerSecond: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** CPU ms per object: this process (the copies), the emulator's, the writer's. */
  cpuMsPerObject: { copier: number; emulator: number; writer: number };
  loadAverageAtStart: number[];
  requests: Record<string, number>;
}

export interface CopyRequest {
  client: S3Client;
  dr: string;
  drKey: string;
  source: { bucket: string; key: string; etag: string };
  /** The stage's settings the fast path's copy carries. */
  storageClass: string;
  copyTags: boolean;
  kmsKeyId: string | undefined;
  expectedOwner: string | undefined;
}

/**
 * The fast path's request, as lib/aws/s3-object-store.ts copyFrom builds it for a fresh small object
 * (tests/unit/bench-replicate-floor.test.ts holds the two equal).
 */
export function fastPathCopy(r: CopyRequest): Promise<unknown> {
  return r.client.send(
    new CopyObjectCommand({
      Bucket: r.dr,
      ...(r.expectedOwner ? { ExpectedBucketOwner: r.expectedOwner } : {}),
      Key: r.drKey,
      CopySource: copySourceHeader({ bucket: r.source.bucket, key: r.source.key }),
      CopySourceIfMatch: `"${r.source.etag}"`,
      MetadataDirective: 'COPY',
      TaggingDirective: r.copyTags ? 'COPY' : 'REPLACE',
      StorageClass: r.storageClass as never,
      ...(r.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: r.kmsKeyId } : {}),
    }),
  );
}

/** Runs `start(item)` for each item pushed, at most `limit` at once; a failure goes to `onError`. */
function boundedQueue<T>(
  limit: number,
  start: (item: T) => Promise<unknown>,
  onError: (error: unknown) => void,
) {
  const waiting: T[] = [];
  let active = 0;
  const next = () => {
    while (active < limit && waiting.length > 0) {
      const item = waiting.shift() as T;
      active += 1;
      start(item)
        .catch(onError)
        .finally(() => {
          active -= 1;
          next();
        });
    }
  };
  return {
    push(item: T) {
      waiting.push(item);
      next();
    },
  };
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Runs the floor once, on a fresh emulator process. */
export async function benchCopyFloor(options: {
  n: number;
  bytes: number;
  concurrency: number;
  copyConcurrency: number;
  prefix?: string;
}): Promise<CopyFloorResult> {
  const loadAverageAtStart = loadavg();
  const emulator = await startEmulatorProcess({ port: 0, statusSnapshot: () => ({}) });
  const env = await localEnv(emulator.port, {
    S3DR_DELETE_POLICY: process.env.S3DR_DELETE_POLICY ?? 'retain',
  });
  // The SDK's default credential chain reads them from the environment, as the handlers' does locally.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
  });
  const config = loadConfig(env);
  const clients = createS3Clients(config);
  try {
    const client = clients.s3(config.drRegion);
    for (const bucket of [...config.sourceBuckets, config.drBucket])
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(
      new PutBucketVersioningCommand({
        Bucket: config.drBucket,
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    return await measureFloor(emulator, config, client, options, loadAverageAtStart);
  } finally {
    clients.destroy();
    await emulator.stop();
  }
}

async function measureFloor(
  emulator: Awaited<ReturnType<typeof startEmulatorProcess>>,
  config: ReturnType<typeof loadConfig>,
  client: S3Client,
  options: Parameters<typeof benchCopyFloor>[0],
  loadAverageAtStart: number[],
): Promise<CopyFloorResult> {
  const source = config.sourceBuckets[0] ?? '';
  const prefix = options.prefix ?? 'bench/';
  const drPrefix = drPrefixFor(config.keyLayout, source);
  const written = new Map<string, number>();
  const replicated = new Map<string, number>();
  let done: () => void = () => undefined;
  let fail: (error: unknown) => void = () => undefined;
  const allCopied = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  // Awaited once the writer is done; a copy failing before then must not surface as unhandled.
  allCopied.catch(() => undefined);
  const copies = boundedQueue(options.copyConcurrency, fastPathCopy, (error) => fail(error));
  emulator.onObjectEvent((e) => {
    if (!e.key.startsWith(prefix) || !e.eventName.startsWith('ObjectCreated')) return;
    if (e.bucket === source) {
      written.set(e.key, e.time.getTime());
      copies.push({
        client,
        dr: config.drBucket,
        drKey: drPrefix + e.key,
        source: { bucket: source, key: e.key, etag: e.etag ?? '' },
        storageClass: config.drStorageClass,
        copyTags: config.copyTags,
        kmsKeyId: config.drKmsKeyId,
        expectedOwner: config.drBucketOwner,
      });
    } else if (e.bucket === config.drBucket && !replicated.has(e.key.slice(drPrefix.length))) {
      replicated.set(e.key.slice(drPrefix.length), e.time.getTime());
      if (replicated.size === options.n) done();
    }
  });
  const before = await emulator.requestCounts();
  const emulatorCpu = await emulator.cpuUsage();
  const ownCpu = process.cpuUsage();
  const writer = await writeObjects({
    endpoint: emulator.endpoint,
    bucket: source,
    prefix,
    count: options.n,
    bytes: options.bytes,
    concurrency: options.concurrency,
  });
  await allCopied;
  const cpu = {
    copier: cpuMs(process.cpuUsage(ownCpu)) / options.n,
    emulator: (cpuMs(await emulator.cpuUsage()) - cpuMs(emulatorCpu)) / options.n,
    writer: writer.cpuMs / options.n,
  };
  const after = await emulator.requestCounts();
  const requests: Record<string, number> = {};
  for (const [k, v] of Object.entries(after))
    if (v - (before[k] ?? 0) > 0) requests[k] = v - (before[k] ?? 0);
  const lags = [...replicated].map(([k, t]) => t - (written.get(k) ?? t)).sort((a, b) => a - b);
  const firstWrite = Math.min(...written.values());
  const endToEndSeconds = (Math.max(...replicated.values()) - firstWrite) / 1000;
  return {
    objects: options.n,
    bytesEach: options.bytes,
    concurrency: options.concurrency,
    copyConcurrency: options.copyConcurrency,
    writeSeconds: (Math.max(...written.values()) - firstWrite) / 1000,
    endToEndSeconds,
    objectsPerSecond: options.n / endToEndSeconds,
    lagP50Ms: percentile(lags, 50),
    lagP99Ms: percentile(lags, 99),
    lagMaxMs: lags.at(-1) ?? Number.NaN,
    cpuMsPerObject: cpu,
    loadAverageAtStart,
    requests,
  };
}
