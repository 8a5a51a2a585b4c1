/**
 * The local runtime: the whole s3-dr pipeline on one port, with no AWS account. It starts the embedded
 * S3 + SQS emulator, creates the buckets and queues of the `local` stage of serverless.yml, delivers S3
 * notifications to the real `ingest` handler as S3 would (asynchronously, with retries and an
 * on-failure destination), drains the replication queue into the real `replicate` handler as Lambda's
 * event source mapping would, and runs the real `verify` handler on a timer.
 *
 * Handlers read their configuration from the environment when they are first imported, exactly as in
 * Lambda; so one process hosts one runtime at a time (each jest test file has its own module registry).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type Config, loadConfig } from '../lib/core/config.ts';
import type { JobStatus } from '../lib/jobs/model.ts';
import { type AsyncFailure, AsyncInvoker } from './async-invoker.ts';
import { recordFunctionCalls } from './call-recorder.ts';
import { type Emulator, startEmulator, startEmulatorProcess } from './emulator.ts';
import { localEnv } from './env.ts';
import type { Handler } from './lambda-context.ts';
import { invokeHandler, lambdaContext } from './lambda-context.ts';
import { S3Notifier } from './s3-notifier.ts';
import { type LocalSettings, loadLocalSettings } from './settings.ts';
import { SqsEventSource } from './sqs-event-source.ts';
import { StatusBoard } from './status.ts';
import { registerStatusPage } from './status-page.ts';

export interface LocalRuntimeOptions {
  /** 0 picks a free port. Default: S3DR_PORT or 4566. */
  port?: number;
  /** Environment overrides for the handlers (e.g. S3DR_DELETE_POLICY). */
  env?: Record<string, string>;
  /** Keep handler logs quiet (tests). */
  quiet?: boolean;
  /** Concurrent SQS pollers (Lambda starts with five). */
  pollers?: number;
  /** Overrides of the queue's settings, so tests need not wait minutes for a redelivery. */
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
  /** Overrides of the job queue's settings (tests: a redelivery in seconds, not 6 × 15 minutes). */
  jobVisibilityTimeoutSeconds?: number;
  jobMaxReceiveCount?: number;
  /** Concurrent job workers (default: the stage's jobMaxConcurrency, as the event source caps it). */
  jobWorkers?: number;
  /** Delay before ingest retries (Lambda: about a minute). */
  ingestRetryDelayMs?: number;
  /** Run the verifier every N ms (0: never). */
  verifyIntervalMs?: number;
  /**
   * Keep buckets, objects, queues and messages in this folder across restarts (default: in memory).
   * A runtime started on a folder that already holds state verifies every source bucket at once, so
   * objects whose events were lost with the previous process (killed between S3's answer and the
   * task reaching the queue) are replicated without a manual step.
   */
  dataDir?: string;
  /** More buckets to create (e.g. restore targets). */
  extraBuckets?: string[];
  /**
   * `process` (default) runs the emulator in a child process, so it and the handlers each have a core;
   * `in-process` keeps everything in this process.
   */
  emulator?: 'process' | 'in-process';
  /**
   * Where the handlers send their S3 and SQS requests, given the emulator's endpoint (default: the
   * emulator itself). Fault-injection tests put a proxy here; the runtime's own pollers and clients
   * (which stand for AWS's side: S3 events, the event source mapping) stay direct.
   */
  handlerEndpoint?: (emulatorEndpoint: string) => Promise<string>;
}

export interface LocalRuntime {
  port: number;
  endpoint: string;
  env: Record<string, string>;
  config: Config;
  settings: LocalSettings;
  /** Clients for tests and tools, pointed at the emulator. */
  s3: S3Client;
  sqs: SQSClient;
  queueUrl: string;
  dlqUrl: string;
  jobQueueUrl: string;
  jobDlqUrl: string;
  emulator: Emulator;
  status: StatusBoard;
  /** Resolves when no notification, ingest invocation, queued message or replicate batch is pending. */
  drain(timeoutMs?: number): Promise<void>;
  /** Resolves when the job queue is empty and no job worker is running. */
  jobsIdle(timeoutMs?: number): Promise<void>;
  /** Stops the job workers taking messages (resolves once running ones finished), and starts them again. */
  pauseJobWorkers(): Promise<void>;
  resumeJobWorkers(): void;
  /** Starts a verify job as the schedule would, waits for the job worker to finish it: its report. */
  verifyNow(payload?: unknown): Promise<unknown>;
  /**
   * Stops taking work, lets in-flight ingest invocations and replicate batches finish for up to
   * `graceMs` (default 30 s), then stops the emulator. Resolves with what was still unfinished.
   */
  stop(graceMs?: number): Promise<{ ingest: number; batches: number }>;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = r.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${queueUrl} has no ARN`);
  return arn;
}

/**
 * Creates a queue, or (kept from an earlier run in the data folder) brings its attributes up to date:
 * SQS refuses to "create" an existing queue with other attributes (QueueNameExists).
 */
async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<void> {
  try {
    await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return;
  } catch (error) {
    if (!(error instanceof Error && error.name === 'QueueNameExists')) throw error;
  }
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
}

/** Starts the local runtime. */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const settings = await loadLocalSettings();
  const status = new StatusBoard();
  const port = options.port ?? Number(process.env.S3DR_PORT ?? 4566);
  const dataDir = options.dataDir;
  const resumed = dataDir !== undefined && existsSync(join(dataDir, 'fauxqs.db'));
  const emulator =
    options.emulator === 'in-process'
      ? await startEmulator({
          port,
          dataDir,
          beforeListen: (app) => registerStatusPage(app, () => status.snapshotWithJobs()),
        })
      : await startEmulatorProcess({ port, dataDir, statusSnapshot: () => status.snapshotWithJobs() });
  try {
    return await wire(emulator, settings, status, options, resumed);
  } catch (error) {
    status.close();
    await emulator.stop();
    throw error;
  }
}

async function wire(
  emulator: Emulator,
  settings: LocalSettings,
  status: StatusBoard,
  options: LocalRuntimeOptions,
  resumed: boolean,
): Promise<LocalRuntime> {
  const env = await localEnv(emulator.port, options.env ?? {});
  if (options.handlerEndpoint) {
    const endpoint = await options.handlerEndpoint(emulator.endpoint);
    env.S3DR_ENDPOINT_URL = endpoint;
  }
  // Handlers and Powertools read these when first imported. Metrics stay off locally: EMF lines on
  // stdout would drown the status line; the same outcomes reach the status board instead.
  Object.assign(process.env, env, {
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: options.quiet ? 'SILENT' : (process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN'),
  });
  const config = loadConfig(env);
  recordFunctionCalls();
  const clientOptions = {
    endpoint: emulator.endpoint,
    credentials,
    region: config.sourceRegion,
  };
  const s3 = new S3Client({ ...clientOptions, forcePathStyle: true });
  const sqs = new SQSClient(clientOptions);

  for (const bucket of new Set([...config.sourceBuckets, config.drBucket, ...(options.extraBuckets ?? [])])) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  // The DR bucket is versioned, as the dr stack makes it on AWS (docs/design.md, invariant 2).
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: config.drBucket,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  // Addressed to 127.0.0.1: fauxqs's own queue URLs use a host that does not resolve everywhere.
  const dlqUrl = `${emulator.endpoint}/000000000000/${settings.dlq.name}`;
  await ensureQueue(sqs, settings.dlq.name, {
    MessageRetentionPeriod: String(settings.dlq.messageRetentionSeconds),
    VisibilityTimeout: String(settings.dlq.visibilityTimeoutSeconds),
  });
  const dlqArn = await queueArn(sqs, dlqUrl);
  const visibility = options.visibilityTimeoutSeconds ?? settings.queue.visibilityTimeoutSeconds;
  await ensureQueue(sqs, settings.queue.name, {
    VisibilityTimeout: String(visibility),
    MessageRetentionPeriod: String(settings.queue.messageRetentionSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: options.maxReceiveCount ?? settings.queue.maxReceiveCount ?? 5,
    }),
  });
  const queueUrl = env.S3DR_QUEUE_URL ?? '';
  const replicationQueueArn = await queueArn(sqs, queueUrl);

  // The job queue and its DLQ, as serverless.yml declares them (visibility 6 × the worker's timeout).
  const jobDlqUrl = `${emulator.endpoint}/000000000000/${settings.jobDlq.name}`;
  await ensureQueue(sqs, settings.jobDlq.name, {
    MessageRetentionPeriod: String(settings.jobDlq.messageRetentionSeconds),
  });
  const jobMaxReceiveCount = options.jobMaxReceiveCount ?? settings.jobQueue.maxReceiveCount ?? 5;
  await ensureQueue(sqs, settings.jobQueue.name, {
    VisibilityTimeout: String(
      options.jobVisibilityTimeoutSeconds ?? settings.jobQueue.visibilityTimeoutSeconds,
    ),
    MessageRetentionPeriod: String(settings.jobQueue.messageRetentionSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: await queueArn(sqs, jobDlqUrl),
      maxReceiveCount: jobMaxReceiveCount,
    }),
  });
  const jobQueueUrl = env.S3DR_JOB_QUEUE_URL ?? '';
  // The worker learns the queue's maxReceiveCount from its environment, as on AWS.
  process.env.S3DR_JOB_MAX_RECEIVE_COUNT = String(jobMaxReceiveCount);
  env.S3DR_JOB_MAX_RECEIVE_COUNT = String(jobMaxReceiveCount);

  const ingest = (await import('../functions/ingest.ts')).handler as unknown as Handler<unknown, unknown>;
  const replicate = (await import('../functions/replicate.ts')).handler as unknown as Handler<
    SQSEvent,
    SQSBatchResponse | undefined
  >;

  const invoker = new AsyncInvoker(ingest, {
    functionName: 'ingest',
    timeoutMs: settings.ingest.timeoutSeconds * 1000,
    maximumRetryAttempts: settings.ingest.maximumRetryAttempts,
    retryDelayMs: options.ingestRetryDelayMs ?? 1000,
    onError: () => status.recordIngestFailure(),
    // Lambda's on-failure destination record, sent where serverless.yml sends it: the DLQ.
    onFailure: async (failure: AsyncFailure) => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: JSON.stringify({
            version: '1.0',
            timestamp: new Date().toISOString(),
            requestContext: {
              functionArn: 'arn:aws:lambda:local:000000000000:function:ingest:$LATEST',
              condition: 'RetriesExhausted',
              approximateInvokeCount: failure.attempts,
            },
            requestPayload: failure.event,
            responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
            responsePayload: { errorType: failure.error.name, errorMessage: failure.error.message },
          }),
        }),
      );
    },
  });
  const notifier = new S3Notifier({
    region: config.sourceRegion,
    buckets: config.sourceBuckets,
    deliver: (event) => invoker.invoke(event),
  });
  const unsubscribe = emulator.onObjectEvent((event) => notifier.notify(event));

  const eventSource = new SqsEventSource(sqs, replicate, {
    queueUrl,
    queueArn: replicationQueueArn,
    region: config.sourceRegion,
    functionName: 'replicate',
    batchSize: settings.replicate.batchSize,
    batchWindowMs: settings.replicate.batchWindowSeconds * 1000,
    timeoutMs: settings.replicate.timeoutSeconds * 1000,
    pollers: options.pollers ?? 4,
  });
  eventSource.start();

  // The status page lists the stage's running and recent jobs, read from the DR bucket as a status
  // request would (lib/jobs/lifecycle.ts, each kind's status from lib/restore/job.ts, lib/verify/job.ts).
  const { recentJobs } = await import('../lib/jobs/lifecycle.ts');
  const { restoreJobStatus } = await import('../lib/restore/job.ts');
  const { verifyJobStatus } = await import('../lib/verify/job.ts');
  const { S3ObjectStore } = await import('../lib/aws/s3-object-store.ts');
  const drStore = new S3ObjectStore(s3, config.drBucket);
  const statusClock = { now: () => new Date(), remainingMs: () => 60_000 };
  status.setJobsSource(async () =>
    (
      await recentJobs(
        { dr: drStore, stage: config.stage },
        { restore: restoreJobStatus(statusClock), verify: verifyJobStatus(statusClock) },
      )
    ).map((j) => ({ job: j.job, state: j.state, summary: j.summary })),
  );

  const jobWorker = (await import('../functions/job-worker.ts')).handler as unknown as Handler<
    SQSEvent,
    SQSBatchResponse | undefined
  >;
  // One poller per concurrent worker: maximumConcurrency caps the batches in flight, as on AWS.
  const jobSource = new SqsEventSource(sqs, jobWorker, {
    queueUrl: jobQueueUrl,
    queueArn: await queueArn(sqs, jobQueueUrl),
    region: config.sourceRegion,
    functionName: 'jobWorker',
    batchSize: settings.jobWorker.batchSize,
    batchWindowMs: 0,
    timeoutMs: settings.jobWorker.timeoutSeconds * 1000,
    pollers: options.jobWorkers ?? settings.jobWorker.maxConcurrency,
  });
  jobSource.start();

  const depths = async () => {
    const attrs = async (url: string) =>
      (
        await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        )
      ).Attributes ?? {};
    const [q, d] = await Promise.all([attrs(queueUrl), attrs(dlqUrl)]);
    const visible =
      Number(q.ApproximateNumberOfMessages ?? 0) + Number(q.ApproximateNumberOfMessagesDelayed ?? 0);
    const inFlight = Number(q.ApproximateNumberOfMessagesNotVisible ?? 0);
    status.setQueueDepths(visible, inFlight, Number(d.ApproximateNumberOfMessages ?? 0));
    return { visible, inFlight };
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await depths().catch(() => undefined);
      status.sample();
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();

  let verifyHandler: Handler<unknown, JobStatus> | undefined;
  /** Invokes the verify handler as the schedule would: it starts a verify job (or answers about one). */
  const invokeVerify = async (payload: unknown): Promise<JobStatus> => {
    verifyHandler ??= (await import('../functions/verify.ts')).handler as unknown as Handler<
      unknown,
      JobStatus
    >;
    return invokeHandler(
      verifyHandler,
      payload,
      lambdaContext('verify', settings.verify.timeoutSeconds * 1000),
    );
  };
  /** Starts a verify job, waits for the job worker to finish it, and returns its report. */
  const verifyNow = async (payload: unknown = {}) => {
    const started = await invokeVerify(payload);
    await jobsIdle(300_000);
    const status = await invokeVerify({ job: started.job });
    if (!status.report) throw new Error(`verify job ${status.job} has no report: ${status.summary}`);
    return status.report;
  };
  let verifyTimer: NodeJS.Timeout | undefined;
  if (options.verifyIntervalMs) {
    const every = options.verifyIntervalMs;
    const tick = () => {
      invokeVerify({ source: config.sourceBuckets[0] })
        .catch(() => status.recordIngestFailure())
        .finally(() => {
          if (sampling) verifyTimer = setTimeout(tick, every);
        });
    };
    verifyTimer = setTimeout(tick, every);
  }

  if (resumed) {
    // What S3 acknowledged before the previous process died is in the data folder, but an event still
    // on its way to ingest died with it: one verify pass per source bucket finds and repairs those. No
    // grace period: nothing written before this start can still be on its way.
    void (async () => {
      for (const source of config.sourceBuckets) {
        await invokeVerify({ source, graceSeconds: 0 }).catch(() => status.recordIngestFailure());
      }
    })();
  }

  const drain = async (timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    let idleChecks = 0;
    while (idleChecks < 2) {
      if (Date.now() > deadline) {
        const d = await depths();
        throw new Error(
          `local runtime did not drain in ${timeoutMs} ms: ${notifier.pendingCount} notifications, ${invoker.pending} ingest invocations, ${d.visible} queued + ${d.inFlight} in-flight messages, ${eventSource.inFlight} replicate batches`,
        );
      }
      notifier.flush();
      const d = await depths();
      const idle =
        notifier.pendingCount === 0 &&
        invoker.pending === 0 &&
        eventSource.inFlight === 0 &&
        d.visible === 0 &&
        d.inFlight === 0;
      idleChecks = idle ? idleChecks + 1 : 0;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const jobsIdle = async (timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    let idleChecks = 0;
    while (idleChecks < 2) {
      const a =
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: jobQueueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes ?? {};
      const visible = Number(a.ApproximateNumberOfMessages ?? 0);
      const inFlight = Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
      if (Date.now() > deadline) {
        throw new Error(
          `job queue did not drain in ${timeoutMs} ms: ${visible} queued + ${inFlight} in-flight messages, ${jobSource.inFlight} worker batches`,
        );
      }
      const idle = visible === 0 && inFlight === 0 && jobSource.inFlight === 0;
      idleChecks = idle ? idleChecks + 1 : 0;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  return {
    port: emulator.port,
    endpoint: emulator.endpoint,
    env,
    config,
    settings,
    s3,
    sqs,
    queueUrl,
    dlqUrl,
    jobQueueUrl,
    jobDlqUrl,
    emulator,
    status,
    drain,
    jobsIdle,
    pauseJobWorkers: () => jobSource.stop(),
    resumeJobWorkers: () => jobSource.start(),
    verifyNow,
    async stop(graceMs = 30_000) {
      sampling = false;
      if (verifyTimer) clearTimeout(verifyTimer);
      unsubscribe();
      notifier.flush();
      // Take no new work, and let what is in flight finish within the grace period: ingest invocations
      // of notifications already delivered, then the replicate batches being processed. What does not
      // finish in time is abandoned; its messages stay in the queue, to be delivered again.
      const until = Date.now() + graceMs;
      while (invoker.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      let graceTimer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        Promise.all([eventSource.stop(), jobSource.stop()]).then(() => true),
        new Promise<false>((r) => {
          graceTimer = setTimeout(() => r(false), Math.max(0, until - Date.now()));
        }),
      ]);
      clearTimeout(graceTimer);
      const left = { ingest: invoker.pending, batches: drained ? 0 : eventSource.inFlight };
      await sampler;
      status.close();
      s3.destroy();
      sqs.destroy();
      await emulator.stop();
      return left;
    },
  };
}
