import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../core/config.ts';
import { logger } from './observability.ts';

/**
 * The one place SDK clients are made. Clients are created lazily and kept at module scope, so a warm
 * Lambda reuses connections. Retries are deliberate: the SDK's `standard` mode (exponential backoff with
 * jitter and a retry quota) with `S3DR_MAX_ATTEMPTS` attempts, or `adaptive` (adds client-side rate
 * limiting after throttles) — see docs/configuration.md. A request that hangs is cut after
 * `S3DR_REQUEST_TIMEOUT_MS` and retried like any other transient failure.
 *
 * S3 and SQS have separate factories so that a handler using one service bundles only that client:
 * esbuild drops the other (both SDK packages declare `sideEffects: false`), which is most of a cold
 * start's compile time (docs/performance.md#cold-starts).
 */
export interface Clients {
  s3(region: string): S3Client;
  /** The replication queue's region (the source region) by default; the job queue's is the stack's. */
  sqs(region?: string): SQSClient;
  destroy(): void;
}

export interface S3Clients {
  s3(region: string): S3Client;
  destroy(): void;
}

export interface SqsClients {
  sqs(region?: string): SQSClient;
  destroy(): void;
}

/** What every client shares: retries, timeouts, sockets, the endpoint override. */
function commonSettings(config: Config) {
  const requestHandler = {
    requestTimeout: config.requestTimeoutMs,
    // Without this, @smithy/node-http-handler (4.14 here) only logs a warning when requestTimeout passes and
    // keeps waiting (an S3 client has no default socket timeout): a hung request would hang the
    // invocation until Lambda kills it. tests/integration/faults.test.ts catches the difference.
    throwOnRequestTimeout: true,
    connectionTimeout: Math.min(config.requestTimeoutMs, 5_000),
    // Replicate copies parts and records in parallel: the SDK's default of 50 sockets would queue them.
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
    httpsAgent: new Agent({ keepAlive: true, maxSockets: 256 }),
    // The handler's own warnings ("socket usage at capacity") go to the structured log. Named here, not
    // left to the SDK: a client without a logger hands its handler its NoOpLogger unless that class is
    // literally named "NoOpLogger" (@smithy/core getHttpHandlerExtensionConfiguration), which it is not in
    // a bundle minified without keepNames — the warnings would vanish (tests/package/bundle-errors.test.ts).
    logger,
  };
  // No requestChecksumCalculation override: the SDK's default (a CRC32 checksum on every PutObject) is
  // what an Object Lock DR bucket requires of s3-dr's own writes (tests/unit/object-lock-writes.test.ts).
  return {
    maxAttempts: config.maxAttempts,
    retryMode: config.retryMode,
    // Resolve each command's middleware stack once per client, not on every send (SmithyConfiguration
    // `cacheMiddleware`; the SDK's own estimate: 0-1 ms per request). Per object, replicate sends one
    // CopyObject and ingest a tenth of a SendMessageBatch, so this is a share of the CPU each object
    // costs (docs/performance.md#replication-throughput). Its conditions: no middleware is added to a
    // client after its first request — s3-dr adds none; and, since the requests of one command class then
    // share one execution context, nothing per request may be read from it after an await. The endpoint
    // (the bucket) is read back at once; what is read later (signing name and region) is the same for
    // every bucket of a client's region as long as no client follows region redirects, uses
    // bucketEndpoint or S3 Express buckets (tests/unit/client-middleware-cache.test.ts).
    cacheMiddleware: true,
    requestHandler,
    ...(config.endpointUrl ? { endpoint: config.endpointUrl } : {}),
  };
}

/** S3 clients, one per region, made on first use. */
export function createS3Clients(config: Config, common = commonSettings(config)): S3Clients {
  const s3ByRegion = new Map<string, S3Client>();
  return {
    s3(region) {
      let client = s3ByRegion.get(region);
      if (!client) {
        client = new S3Client({ ...common, region, forcePathStyle: config.forcePathStyle });
        s3ByRegion.set(region, client);
      }
      return client;
    },
    destroy() {
      for (const client of s3ByRegion.values()) client.destroy();
      s3ByRegion.clear();
    },
  };
}

/** SQS clients, one per region (the replication queue is in the source region), made on first use. */
export function createSqsClients(config: Config, common = commonSettings(config)): SqsClients {
  const sqsByRegion = new Map<string, SQSClient>();
  return {
    sqs(region = config.sourceRegion) {
      let client = sqsByRegion.get(region);
      if (!client) {
        client = new SQSClient({ ...common, region });
        sqsByRegion.set(region, client);
      }
      return client;
    },
    destroy() {
      for (const client of sqsByRegion.values()) client.destroy();
      sqsByRegion.clear();
    },
  };
}

/** Both services, sharing one request handler's sockets (as before the split). */
export function createClients(config: Config): Clients {
  const common = commonSettings(config);
  const s3 = createS3Clients(config, common);
  const sqs = createSqsClients(config, common);
  return {
    s3: s3.s3,
    sqs: sqs.sqs,
    destroy() {
      s3.destroy();
      sqs.destroy();
    },
  };
}
