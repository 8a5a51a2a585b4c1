import { createClients } from './aws/clients.ts';
import { S3ObjectStore } from './aws/s3-object-store.ts';
import { SqsJobQueue, SqsTaskQueue } from './aws/sqs-task-queue.ts';
import { type Config, loadConfig, requireJobQueueUrl, requireQueueUrl } from './config.ts';
import type { JobQueue, ObjectStore, TaskQueue } from './ports.ts';
import type { ReplicateSettings } from './replicate-key.ts';

/**
 * Everything a handler needs, built once per cold start from the validated configuration: adapters
 * bound to the configured buckets, in the right regions. A configuration error throws here, at module
 * load, with a message naming the variable.
 */
export interface Runtime {
  config: Config;
  sourceStore(bucket: string): ObjectStore | undefined;
  dr: ObjectStore;
  /** A store for any bucket in the given region (restore targets, after the allow-list check). */
  storeFor(bucket: string, region: string): ObjectStore;
  queue(): TaskQueue;
  /** The job queue (restore and verify jobs); throws a ConfigError when the stage has none. */
  jobQueue(): JobQueue;
  replicateSettings: ReplicateSettings;
  destroy(): void;
}

export function createRuntime(env: Record<string, string | undefined> = process.env): Runtime {
  const config = loadConfig(env);
  const clients = createClients(config);
  const sources = new Map(
    config.sourceBuckets.map((b) => [b, new S3ObjectStore(clients.s3(config.sourceRegion), b)] as const),
  );
  let queue: TaskQueue | undefined;
  let jobQueue: JobQueue | undefined;
  return {
    config,
    sourceStore: (bucket) => sources.get(bucket),
    dr: new S3ObjectStore(clients.s3(config.drRegion), config.drBucket, {
      expectedOwner: config.drBucketOwner,
    }),
    storeFor: (bucket, region) => new S3ObjectStore(clients.s3(region), bucket),
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
    replicateSettings: {
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
    },
    destroy: () => clients.destroy(),
  };
}
