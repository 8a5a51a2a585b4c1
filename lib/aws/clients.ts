import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config.ts';

/**
 * The one place SDK clients are made. Clients are created lazily and kept at module scope, so a warm
 * Lambda reuses connections. Retries are deliberate: the SDK's `standard` mode (exponential backoff with
 * jitter and a retry quota) with `S3DR_MAX_ATTEMPTS` attempts, or `adaptive` (adds client-side rate
 * limiting after throttles) — see README "Configuration". A request that hangs is cut after
 * `S3DR_REQUEST_TIMEOUT_MS` and retried like any other transient failure.
 */
export interface Clients {
  s3(region: string): S3Client;
  /** The replication queue's region (the source region) by default; the job queue's is the stack's. */
  sqs(region?: string): SQSClient;
  destroy(): void;
}

export function createClients(config: Config): Clients {
  const s3ByRegion = new Map<string, S3Client>();
  const sqsByRegion = new Map<string, SQSClient>();
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
  };
  const common = {
    maxAttempts: config.maxAttempts,
    retryMode: config.retryMode,
    requestHandler,
    ...(config.endpointUrl ? { endpoint: config.endpointUrl } : {}),
  };
  return {
    s3(region) {
      let client = s3ByRegion.get(region);
      if (!client) {
        client = new S3Client({ ...common, region, forcePathStyle: config.forcePathStyle });
        s3ByRegion.set(region, client);
      }
      return client;
    },
    sqs(region = config.sourceRegion) {
      let client = sqsByRegion.get(region);
      if (!client) {
        client = new SQSClient({ ...common, region });
        sqsByRegion.set(region, client);
      }
      return client;
    },
    destroy() {
      for (const client of s3ByRegion.values()) client.destroy();
      for (const client of sqsByRegion.values()) client.destroy();
      s3ByRegion.clear();
      sqsByRegion.clear();
    },
  };
}
