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
  type QueueAttributeName,
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
import {
  type FunctionProcesses,
  type ProcessMemory,
  startFunctionProcesses,
  v8HeapFlags,
} from './function-processes.ts';
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
  /**
   * Run each concurrent job worker in a process of its own (local/function-processes.ts), as Lambda runs
   * each concurrent invocation in its own execution environment: the job's shards then run in parallel
   * on the machine's cores, and each worker's memory is measured apart. Off by default: tests that
   * inject faults into the job worker need it in this process.
   */
  jobWorkerProcesses?: boolean;
  /**
   * Run the replicate function's invocations in this many processes of their own (default 0: in this
   * process), the `pollers` shared among them, as Lambda runs concurrent invocations in separate
   * execution environments: replication can then use more than one core. Off by default: tests that
   * inject faults into the replicate handler or count its calls need it in this process.
   */
  replicateProcesses?: number;
  /**
   * Run the ingest function's invocations in this many processes of their own (default 0: in this
   * process), each taking one asynchronous invocation at a time, as an execution environment does; the
   * events waiting for one stay here, where on AWS they wait in Lambda's queue of asynchronous events.
   * Its memory is then measured apart from this process (`npm run bench:scale`). Off by default: tests
   * that inject faults into the ingest handler need it in this process.
   */
  ingestProcesses?: number;
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
  /** CPU time of the function processes (`ingestProcesses`, `replicateProcesses`, `jobWorkerProcesses`); zero without. */
  functionProcessesCpuUsage(): Promise<NodeJS.CpuUsage>;
  /** With `jobWorkerProcesses`: the peak RSS (MiB) of each job worker process, as of its last pause. */
  jobWorkerPeakRssMiB(): ProcessMemory | undefined;
  /**
   * The peak memory so far of each function that runs in processes of its own (`ingestProcesses`,
   * `replicateProcesses`, `jobWorkerProcesses`), by its serverless.yml name.
   */
  functionProcessesMemory(): Promise<Record<string, ProcessMemory>>;
  /**
   * What waits on AWS's side of the runtime now: S3 events not yet handed to ingest, and ingest's
   * asynchronous invocations pending (running, waiting for an execution environment, or for a retry).
   */
  backlog(): { notifications: number; ingestInvocations: number };
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

/** The handlers' environment, set on this process as Lambda sets it before the handlers are imported. */
async function handlerEnvironment(
  emulator: Emulator,
  options: LocalRuntimeOptions,
): Promise<Record<string, string>> {
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
  return env;
}

/** The buckets of the stage; the DR bucket versioned, as the dr stack makes it on AWS. */
async function createBuckets(s3: S3Client, config: Config, extraBuckets: string[] = []): Promise<void> {
  for (const bucket of new Set([...config.sourceBuckets, config.drBucket, ...extraBuckets])) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  // docs/design.md, invariant 2.
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: config.drBucket,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
}

interface Queues {
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  jobQueueUrl: string;
  jobQueueArn: string;
  jobDlqUrl: string;
}

/**
 * The replication queue and the job queue, each with its DLQ, as serverless.yml declares them (the job
 * queue's visibility 6 × the worker's timeout). The job worker learns the job queue's maxReceiveCount
 * from its environment, as on AWS: it is set in `env` and on this process.
 */
async function createQueues(
  sqs: SQSClient,
  emulator: Emulator,
  settings: LocalSettings,
  options: LocalRuntimeOptions,
  env: Record<string, string>,
): Promise<Queues> {
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
  process.env.S3DR_JOB_MAX_RECEIVE_COUNT = String(jobMaxReceiveCount);
  env.S3DR_JOB_MAX_RECEIVE_COUNT = String(jobMaxReceiveCount);
  return {
    queueUrl,
    queueArn: await queueArn(sqs, queueUrl),
    dlqUrl,
    jobQueueUrl,
    jobQueueArn: await queueArn(sqs, jobQueueUrl),
    jobDlqUrl,
  };
}

/** Lambda's on-failure destination record for an asynchronous invocation that ran out of retries. */
function onFailureRecord(functionName: string, failure: AsyncFailure): string {
  return JSON.stringify({
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      functionArn: `arn:aws:lambda:local:000000000000:function:${functionName}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: failure.attempts,
    },
    requestPayload: failure.event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: failure.error.name, errorMessage: failure.error.message },
  });
}

/** V8's heap limits for a function's processes, as Lambda sets them (local/function-processes.ts). */
function heapFlags(settings: LocalSettings, functionName: string): string[] {
  return v8HeapFlags(settings.functionEnv[functionName]?.NODE_OPTIONS, settings.memorySizeMB[functionName]);
}

interface Ingest {
  invoker: AsyncInvoker<unknown>;
  notifier: S3Notifier;
  unsubscribe: () => void;
  /** With `ingestProcesses`: the processes the invocations run in. */
  processes?: FunctionProcesses;
}

/**
 * S3 notifications of the source buckets, delivered to the real `ingest` handler as S3 invokes it:
 * asynchronously, with retries, and the on-failure record sent where serverless.yml sends it (the DLQ).
 */
async function startIngest(
  emulator: Emulator,
  sqs: SQSClient,
  config: Config,
  settings: LocalSettings,
  status: StatusBoard,
  options: LocalRuntimeOptions,
  dlqUrl: string,
): Promise<Ingest> {
  const processes = options.ingestProcesses
    ? await startFunctionProcesses(
        options.ingestProcesses,
        { functionName: 'ingest', timeoutMs: settings.ingest.timeoutSeconds * 1000 },
        (error) => {
          if (!options.quiet) process.stderr.write(`ingest process: ${String(error)}\n`);
        },
        heapFlags(settings, 'ingest'),
      )
    : undefined;
  const ingest: Handler<unknown, unknown> = processes
    ? (event) => processes.invoke(event)
    : ((await import('../functions/ingest.ts')).handler as unknown as Handler<unknown, unknown>);
  const invoker = new AsyncInvoker(ingest, {
    functionName: 'ingest',
    timeoutMs: settings.ingest.timeoutSeconds * 1000,
    maximumRetryAttempts: settings.ingest.maximumRetryAttempts,
    retryDelayMs: options.ingestRetryDelayMs ?? 1000,
    onError: () => status.recordIngestFailure(),
    onFailure: async (failure: AsyncFailure) => {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: onFailureRecord('ingest', failure) }),
      );
    },
  });
  const notifier = new S3Notifier({
    region: config.sourceRegion,
    buckets: config.sourceBuckets,
    deliver: (event) => invoker.invoke(event),
  });
  const unsubscribe = emulator.onObjectEvent((event) => notifier.notify(event));
  return { invoker, notifier, unsubscribe, ...(processes ? { processes } : {}) };
}

type SqsHandler = Handler<SQSEvent, SQSBatchResponse | undefined>;

/**
 * The replication queue drained into the real `replicate` handler, as Lambda's event source mapping does:
 * in this process, or in `replicateProcesses` processes of their own.
 */
async function startReplicate(
  sqs: SQSClient,
  config: Config,
  settings: LocalSettings,
  options: LocalRuntimeOptions,
  queues: Queues,
): Promise<SqsEventSource | FunctionProcesses> {
  const eventSource = {
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    region: config.sourceRegion,
    functionName: 'replicate',
    batchSize: settings.replicate.batchSize,
    batchWindowMs: settings.replicate.batchWindowSeconds * 1000,
    timeoutMs: settings.replicate.timeoutSeconds * 1000,
  };
  const pollers = options.pollers ?? 4;
  const processes = options.replicateProcesses ?? 0;
  if (processes > 0) {
    return startFunctionProcesses(
      processes,
      // As for the job workers: the event source talks to the emulator itself, never a test's proxy.
      {
        ...eventSource,
        endpoint: new URL(queues.queueUrl).origin,
        pollers: Math.max(1, Math.ceil(pollers / processes)),
      },
      (error) => {
        if (!options.quiet) process.stderr.write(`replicate process: ${String(error)}\n`);
      },
      heapFlags(settings, 'replicate'),
    );
  }
  const replicate = (await import('../functions/replicate.ts')).handler as unknown as SqsHandler;
  const source = new SqsEventSource(sqs, replicate, { ...eventSource, pollers });
  source.start();
  return source;
}

/**
 * The job queue drained into the real job worker, and the status page's list of the stage's running
 * and recent jobs, read from the DR bucket as a status request would (lib/jobs/lifecycle.ts, each kind's
 * status from lib/restore/job.ts, lib/verify/job.ts).
 */
async function startJobs(
  s3: S3Client,
  sqs: SQSClient,
  config: Config,
  settings: LocalSettings,
  status: StatusBoard,
  options: LocalRuntimeOptions,
  queues: Queues,
): Promise<SqsEventSource | FunctionProcesses> {
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

  const eventSource = {
    queueUrl: queues.jobQueueUrl,
    queueArn: queues.jobQueueArn,
    region: config.sourceRegion,
    functionName: 'jobWorker',
    batchSize: settings.jobWorker.batchSize,
    batchWindowMs: 0,
    timeoutMs: settings.jobWorker.timeoutSeconds * 1000,
  };
  // One poller per concurrent worker: maximumConcurrency caps the batches in flight, as on AWS.
  const workers = options.jobWorkers ?? settings.jobWorker.maxConcurrency;
  if (options.jobWorkerProcesses) {
    return startFunctionProcesses(
      workers,
      // The event source stands for AWS's side: it talks to the emulator itself, never a test's proxy.
      { ...eventSource, endpoint: new URL(queues.jobQueueUrl).origin },
      (error) => {
        if (!options.quiet) process.stderr.write(`job worker process: ${String(error)}\n`);
      },
      heapFlags(settings, 'jobWorker'),
    );
  }
  const jobWorker = (await import('../functions/job-worker.ts')).handler as unknown as SqsHandler;
  const jobSource = new SqsEventSource(sqs, jobWorker, { ...eventSource, pollers: workers });
  jobSource.start();
  return jobSource;
}

/** Message counts of a queue, by the attributes SQS names them with. */
async function queueCounts(sqs: SQSClient, queueUrl: string, names: QueueAttributeName[]) {
  return (
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names })))
      .Attributes ?? {}
  );
}

/** Reads the replication queue's and DLQ's depths onto the status board; returns the queue's. */
async function queueDepths(sqs: SQSClient, queues: Queues, status: StatusBoard) {
  const [q, d] = await Promise.all([
    queueCounts(sqs, queues.queueUrl, [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ]),
    queueCounts(sqs, queues.dlqUrl, [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ]),
  ]);
  const visible =
    Number(q.ApproximateNumberOfMessages ?? 0) + Number(q.ApproximateNumberOfMessagesDelayed ?? 0);
  const inFlight = Number(q.ApproximateNumberOfMessagesNotVisible ?? 0);
  status.setQueueDepths(visible, inFlight, Number(d.ApproximateNumberOfMessages ?? 0));
  return { visible, inFlight };
}

/** How long `verifyNow` waits for its pass (and for a running pass over the scope before it). */
const VERIFY_NOW_MS = 300_000;

const isJobConflict = (error: unknown) => error instanceof Error && error.name === 'JobConflictError';

/**
 * The verify handler, invoked as the schedule would every `verifyIntervalMs` and once per source bucket
 * at once when the runtime resumed from a data folder: each invocation starts a verify job (or answers
 * about one), which the job worker runs. `verifyNow` starts one and waits for its report, `jobsDone`
 * being how it waits for the job worker. `running()` tells the timer to go on.
 */
function startVerifier(
  config: Config,
  settings: LocalSettings,
  status: StatusBoard,
  options: LocalRuntimeOptions,
  resumed: boolean,
  running: () => boolean,
  jobsDone: (timeoutMs: number) => Promise<void>,
): { verifyNow: (payload?: unknown) => Promise<unknown>; stop: () => void } {
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
  /**
   * Requests waiting in `verifyNow`. While there is one, the timer starts nothing: else, when a pass
   * ends, the timer's next start and the request's retry race, and a timer firing soon after each
   * pass (a short interval, a busy machine) can win every round and starve the request.
   */
  let requested = 0;
  /**
   * Starts a verify job, waits for the job worker to finish it, and returns its report. A start refused
   * because another pass over the scope runs (the timer's, as the schedule's would) is tried again once
   * that one has finished.
   */
  const verifyNow = async (payload: unknown = {}) => {
    requested += 1;
    try {
      return await requestedPass(payload);
    } finally {
      requested -= 1;
    }
  };
  const requestedPass = async (payload: unknown) => {
    const deadline = Date.now() + VERIFY_NOW_MS;
    let started: JobStatus | undefined;
    while (!started) {
      started = await invokeVerify(payload).catch(async (error: unknown) => {
        if (!isJobConflict(error) || Date.now() > deadline) throw error;
        await jobsDone(Math.max(1, deadline - Date.now())).catch(() => undefined);
        return undefined;
      });
    }
    for (;;) {
      const status = await invokeVerify({ job: started.job });
      if (status.report) return status.report;
      if (Date.now() > deadline)
        throw new Error(
          `verify job ${status.job} did not finish in ${VERIFY_NOW_MS / 1000} s: ${status.summary}`,
        );
      await jobsDone(Math.max(1, deadline - Date.now())).catch(() => undefined);
    }
  };
  let verifyTimer: NodeJS.Timeout | undefined;
  if (options.verifyIntervalMs) {
    const every = options.verifyIntervalMs;
    const tick = () => {
      const started =
        requested > 0 ? Promise.resolve(undefined) : invokeVerify({ source: config.sourceBuckets[0] });
      started
        // Another pass over the scope runs (verifyNow's): the schedule has nothing to start.
        .catch((error: unknown) => isJobConflict(error) || status.recordIngestFailure())
        .finally(() => {
          if (running()) verifyTimer = setTimeout(tick, every);
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
  return { verifyNow, stop: () => verifyTimer && clearTimeout(verifyTimer) };
}

/**
 * Waits until two checks in a row find nothing pending: no notification, ingest invocation, queued or
 * in-flight message, or replicate batch.
 */
async function drainPipeline(
  ingest: { invoker: AsyncInvoker<unknown>; notifier: S3Notifier },
  eventSource: { readonly inFlight: number },
  depths: () => Promise<{ visible: number; inFlight: number }>,
  timeoutMs: number,
): Promise<void> {
  const { notifier, invoker } = ingest;
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
}

/** Waits until two checks in a row find the job queue empty and no job worker running. */
async function jobsIdle(
  sqs: SQSClient,
  jobQueueUrl: string,
  jobSource: { inFlight: number },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let idleChecks = 0;
  while (idleChecks < 2) {
    // A worker still running is not idle, and asking SQS 40 times a second costs this process CPU that
    // in-process job workers would otherwise have (about 6 % of a core in bench:restore).
    if (jobSource.inFlight > 0) {
      if (Date.now() > deadline) {
        throw new Error(
          `job queue did not drain in ${timeoutMs} ms: ${jobSource.inFlight} worker batches still running`,
        );
      }
      idleChecks = 0;
      await new Promise((r) => setTimeout(r, 25));
      continue;
    }
    const a = await queueCounts(sqs, jobQueueUrl, [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
    ]);
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
}

/**
 * Takes no new work, and lets what is in flight finish within the grace period: ingest invocations of
 * notifications already delivered, then the replicate batches being processed. What does not finish in
 * time is abandoned; its messages stay in the queue, to be delivered again. Returns what was abandoned.
 */
async function finishInFlight(
  invoker: AsyncInvoker<unknown>,
  eventSource: { readonly inFlight: number; stop(): Promise<void> },
  jobSource: { stop(): Promise<void> },
  graceMs: number,
): Promise<{ ingest: number; batches: number }> {
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
  return { ingest: invoker.pending, batches: drained ? 0 : eventSource.inFlight };
}

/** CPU time of whichever event sources run their function in processes of their own. */
async function functionProcessesCpu(
  ...sources: (SqsEventSource | FunctionProcesses)[]
): Promise<NodeJS.CpuUsage> {
  const each = await Promise.all(
    sources.map((s) => ('cpuUsage' in s ? s.cpuUsage() : Promise.resolve({ user: 0, system: 0 }))),
  );
  return each.reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system }));
}

/** The peak memory of whichever functions run in processes of their own, by function name. */
async function functionProcessesMemory(
  sources: Record<string, SqsEventSource | FunctionProcesses | undefined>,
): Promise<Record<string, ProcessMemory>> {
  const each = await Promise.all(
    Object.entries(sources).map(async ([name, s]) =>
      s && 'memory' in s ? ([[name, await s.memory()]] as const) : [],
    ),
  );
  return Object.fromEntries(each.flat());
}

/** Creates the stage's buckets and queues on the emulator and starts the handlers around them. */
async function wire(
  emulator: Emulator,
  settings: LocalSettings,
  status: StatusBoard,
  options: LocalRuntimeOptions,
  resumed: boolean,
): Promise<LocalRuntime> {
  const env = await handlerEnvironment(emulator, options);
  const config = loadConfig(env);
  recordFunctionCalls();
  const clientOptions = { endpoint: emulator.endpoint, credentials, region: config.sourceRegion };
  const s3 = new S3Client({ ...clientOptions, forcePathStyle: true });
  // The poller's client stands for Lambda's event source mapping, whose CPU is not the functions'; it
  // resolves its middleware once, as the handlers' clients do (lib/aws/clients.ts).
  const sqs = new SQSClient({ ...clientOptions, cacheMiddleware: true });
  await createBuckets(s3, config, options.extraBuckets);
  const queues = await createQueues(sqs, emulator, settings, options, env);

  const ingest = await startIngest(emulator, sqs, config, settings, status, options, queues.dlqUrl);
  const eventSource = await startReplicate(sqs, config, settings, options, queues);
  const jobSource = await startJobs(s3, sqs, config, settings, status, options, queues);

  const depths = () => queueDepths(sqs, queues, status);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await depths().catch(() => undefined);
      status.sample();
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const verifier = startVerifier(
    config,
    settings,
    status,
    options,
    resumed,
    () => sampling,
    (timeoutMs) => jobsIdle(sqs, queues.jobQueueUrl, jobSource, timeoutMs),
  );

  return {
    port: emulator.port,
    endpoint: emulator.endpoint,
    env,
    config,
    settings,
    s3,
    sqs,
    queueUrl: queues.queueUrl,
    dlqUrl: queues.dlqUrl,
    jobQueueUrl: queues.jobQueueUrl,
    jobDlqUrl: queues.jobDlqUrl,
    emulator,
    status,
    drain: (timeoutMs = 60_000) => drainPipeline(ingest, eventSource, depths, timeoutMs),
    jobsIdle: (timeoutMs = 120_000) => jobsIdle(sqs, queues.jobQueueUrl, jobSource, timeoutMs),
    pauseJobWorkers: () => jobSource.stop(),
    resumeJobWorkers: () => jobSource.start(),
    jobWorkerPeakRssMiB: () => ('peakRssMiB' in jobSource ? jobSource.peakRssMiB() : undefined),
    backlog: () => ({
      notifications: ingest.notifier.pendingCount,
      ingestInvocations: ingest.invoker.pending,
    }),
    functionProcessesMemory: () =>
      functionProcessesMemory({ ingest: ingest.processes, replicate: eventSource, jobWorker: jobSource }),
    functionProcessesCpuUsage: () =>
      functionProcessesCpu(eventSource, jobSource, ...(ingest.processes ? [ingest.processes] : [])),
    verifyNow: verifier.verifyNow,
    async stop(graceMs = 30_000) {
      sampling = false;
      verifier.stop();
      ingest.unsubscribe();
      ingest.notifier.flush();
      const left = await finishInFlight(ingest.invoker, eventSource, jobSource, graceMs);
      if ('close' in jobSource) await jobSource.close();
      if ('close' in eventSource) await eventSource.close();
      await ingest.processes?.close();
      await sampler;
      status.close();
      s3.destroy();
      sqs.destroy();
      await emulator.stop();
      return left;
    },
  };
}
