import { createS3Clients, createSqsClients, type S3Clients } from '../lib/aws/clients.ts';
import { S3ObjectStore } from '../lib/aws/s3-object-store.ts';
import { SqsJobQueue, SqsTaskQueue } from '../lib/aws/sqs-task-queue.ts';
import { type Config, loadConfig, requireJobQueueUrl, requireQueueUrl } from '../lib/core/config.ts';
import type { Clock, ObjectStore, TaskQueue } from '../lib/core/ports.ts';
import type { Telemetry } from '../lib/core/telemetry.ts';
import type { JobLifecycleDeps } from '../lib/jobs/lifecycle.ts';
import type { JobQueue } from '../lib/jobs/model.ts';
import type { ReplicateSettings } from '../lib/replicate/replicate-key.ts';
import type { RestoreJobDeps } from '../lib/restore/job.ts';
import type { VerifyJobDeps } from '../lib/verify/job.ts';

/**
 * Everything a handler needs, built once per cold start from the validated configuration: adapters
 * bound to the configured buckets, in the right regions. A configuration error throws here, at module
 * load, with a message naming the variable.
 *
 * A handler composes only the parts it uses (`storesRuntime`, `queueRuntime`): the part it does not
 * import is not in its bundle, and an SDK client is most of a cold start (docs/performance.md#cold-starts).
 * `createRuntime` is all of them, for a handler that uses both services and for tests.
 */
export interface Runtime extends StoresRuntime, QueueRuntime {
  config: Config;
  replicateSettings: ReplicateSettings;
  destroy(): void;
}

/** The S3 side: source stores, the DR store, stores for restore targets. */
export interface StoresRuntime {
  sourceStore(bucket: string): ObjectStore | undefined;
  dr: ObjectStore;
  /** A store for any bucket in the given region (restore targets, after the allow-list check). */
  storeFor(bucket: string, region: string): ObjectStore;
  destroy(): void;
}

/** The SQS side: the replication queue, made on first use. */
export interface QueueRuntime {
  queue(): TaskQueue;
  /** The job queue (restore and verify jobs); throws a ConfigError when the stage has none. */
  jobQueue(): JobQueue;
  destroy(): void;
}

/**
 * Each source store, and the source region's S3 client, is built on first use: the verify and restore
 * functions start, poll and cancel jobs with the DR store alone, and an S3 client built at init is
 * cold-start time spent for nothing there (docs/performance.md#cold-starts). The DR store is built here:
 * every function that composes stores uses it.
 */
export function storesRuntime(config: Config, clients: S3Clients = createS3Clients(config)): StoresRuntime {
  const sources = new Map<string, ObjectStore>();
  return {
    sourceStore(bucket) {
      if (!config.sourceBuckets.includes(bucket)) return undefined;
      let store = sources.get(bucket);
      if (!store) {
        store = new S3ObjectStore(clients.s3(config.sourceRegion), bucket);
        sources.set(bucket, store);
      }
      return store;
    },
    dr: new S3ObjectStore(clients.s3(config.drRegion), config.drBucket, {
      expectedOwner: config.drBucketOwner,
    }),
    storeFor: (bucket, region) => new S3ObjectStore(clients.s3(region), bucket),
    destroy: () => clients.destroy(),
  };
}

export function queueRuntime(config: Config): QueueRuntime {
  const clients = createSqsClients(config);
  let queue: TaskQueue | undefined;
  let jobQueue: JobQueue | undefined;
  return {
    queue() {
      queue ??= new SqsTaskQueue(clients.sqs(), requireQueueUrl(config));
      return queue;
    },
    jobQueue() {
      // Each stack has its own job queue in its own region: the dr stack's restore runs with the
      // source region down.
      const region = config.stackRole === 'dr' ? config.drRegion : config.sourceRegion;
      jobQueue ??= new SqsJobQueue(clients.sqs(region), requireJobQueueUrl(config));
      return jobQueue;
    },
    destroy: () => clients.destroy(),
  };
}

export function replicateSettings(config: Config): ReplicateSettings {
  return {
    deletePolicy: config.deletePolicy,
    keyLayout: config.keyLayout,
    drStorageClass: config.drStorageClass,
    drKmsKeyId: config.drKmsKeyId,
    copyTags: config.copyTags,
    multipartThreshold: config.multipartThreshold,
    partSize: config.partSize,
    partConcurrency: config.partConcurrency,
    safetyMarginMs: config.safetyMarginMs,
    thawArchivedSources: config.thawArchivedSources,
    thawDays: config.thawDays,
    thawTier: config.thawTier,
    rules: config.rules,
  };
}

/** What restore jobs need in one invocation: the DR store, target stores, the job queue and job settings. */
export function jobDeps(
  runtime: Pick<Runtime, 'config' | 'dr' | 'storeFor' | 'jobQueue'>,
  invocation: Telemetry & { clock: Clock },
): RestoreJobDeps {
  const { config } = runtime;
  return {
    logger: invocation.logger,
    metrics: invocation.metrics,
    outcomes: invocation.outcomes,
    clock: invocation.clock,
    dr: runtime.dr,
    storeFor: runtime.storeFor,
    settings: config,
    // Built on first use: a refused request needs no queue.
    queue: { send: (messages) => runtime.jobQueue().send(messages) },
    stage: config.stage,
    shardKeys: config.jobShardKeys,
    maxReceiveCount: config.jobMaxReceiveCount,
  };
}

/** What starting, polling and cancelling a job needs (the verify function): the DR store and the job queue. */
export function jobControlDeps(
  runtime: Pick<Runtime, 'config' | 'dr' | 'jobQueue'>,
  invocation: Telemetry & { clock: Clock },
): JobLifecycleDeps {
  return {
    logger: invocation.logger,
    clock: invocation.clock,
    dr: runtime.dr,
    stage: runtime.config.stage,
    // Built on first use: a refused request needs no queue.
    jobQueue: { send: (messages) => runtime.jobQueue().send(messages) },
  };
}

/** What a verify job's run needs (the job worker): everything verify reads and writes, and the job queue. */
export function verifyJobDeps(
  runtime: Pick<Runtime, 'config' | 'dr' | 'sourceStore' | 'queue' | 'jobQueue'>,
  invocation: Telemetry & { clock: Clock },
): VerifyJobDeps {
  return {
    ...jobControlDeps(runtime, invocation),
    metrics: invocation.metrics,
    outcomes: invocation.outcomes,
    sourceStore: runtime.sourceStore,
    queue: () => runtime.queue(),
    settings: runtime.config,
    maxReceiveCount: runtime.config.jobMaxReceiveCount,
    shardKeys: runtime.config.verifyShardKeys,
  };
}

export function createRuntime(env: Record<string, string | undefined> = process.env): Runtime {
  const config = loadConfig(env);
  const stores = storesRuntime(config);
  const queue = queueRuntime(config);
  return {
    config,
    sourceStore: stores.sourceStore,
    dr: stores.dr,
    storeFor: stores.storeFor,
    queue: queue.queue,
    jobQueue: queue.jobQueue,
    replicateSettings: replicateSettings(config),
    destroy() {
      stores.destroy();
      queue.destroy();
    },
  };
}
