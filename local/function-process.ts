/**
 * Entry point of one function execution environment: the local runtime's `jobWorkerProcesses`,
 * `replicateProcesses` and `ingestProcesses` modes run a function's concurrent invocations in processes
 * of their own, as Lambda runs each concurrent invocation in an execution environment of its own (its
 * own CPU and memory), instead of every invocation sharing the runtime's one thread. A function with a
 * queue drains it into the real handler (one poller by default: one batch at a time, as one execution
 * environment takes one invocation at a time) and tells the parent when a batch starts and ends (the
 * runtime's `drain` and `jobsIdle`); an asynchronously invoked one (ingest, which S3 invokes) runs the
 * events the parent sends it, one at a time, and answers with the result or the error. Either way the
 * outcomes the handler published travel with the end of the invocation (the status line's counts); it
 * answers with its CPU time and its peak RSS and V8 heap when asked, and with the latter when it stops.
 * The environment is the handlers' (inherited from the runtime, which set it before forking).
 */
import { channel } from 'node:diagnostics_channel';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describeError } from '../lib/core/errors.ts';
import { recordFunctionCalls } from './call-recorder.ts';
import type { FunctionProcessOptions } from './function-processes.ts';
import { type Handler, invokeHandler, lambdaContext } from './lambda-context.ts';
import { SqsEventSource } from './sqs-event-source.ts';

type ParentMessage =
  | { type: 'start' | 'stop' }
  | { type: 'cpu-usage' | 'memory'; id: number }
  | { type: 'invoke'; id: number; event: unknown };

/** The functions that can run in processes of their own, by the name serverless.yml gives them. */
const MODULES: Record<string, string> = {
  ingest: '../functions/ingest.ts',
  jobWorker: '../functions/job-worker.ts',
  replicate: '../functions/replicate.ts',
};

const send = (message: unknown) => process.send?.(message);
const options = JSON.parse(process.env.S3DR_FUNCTION_PROCESS ?? '{}') as FunctionProcessOptions;
const modulePath = MODULES[options.functionName];
if (!modulePath) throw new Error(`no function ${options.functionName} to run in a process of its own`);
recordFunctionCalls();
const fn = (await import(modulePath)).handler as unknown as Handler<unknown, unknown>;
// The handlers publish outcomes on this channel (lib/aws/observability.ts); the parent's status board
// listens on its own, so they travel with the invocation's end.
const outcomes: unknown[] = [];
channel('s3dr:outcome').subscribe((event) => outcomes.push(event));
const takeOutcomes = () => outcomes.splice(0);
const handler: Handler<SQSEvent, SQSBatchResponse | undefined> = async (event, context) => {
  send({ type: 'batch-start' });
  try {
    return (await fn(event, context)) as SQSBatchResponse | undefined;
  } finally {
    send({ type: 'batch-end', outcomes: takeOutcomes() });
  }
};

let source: SqsEventSource | undefined;
let sqs: SQSClient | undefined;
/** Asynchronous invocations running now (the parent sends one at a time). */
const invocations = new Set<Promise<void>>();

/** Runs one asynchronous invocation the parent sent; answers with its result or its error. */
function invoke(id: number, event: unknown): void {
  const running = invokeHandler(fn, event, lambdaContext(options.functionName, options.timeoutMs)).then(
    (result) => void send({ type: 'invoke-end', id, result, outcomes: takeOutcomes() }),
    (error: unknown) =>
      void send({ type: 'invoke-end', id, error: describeError(error), outcomes: takeOutcomes() }),
  );
  invocations.add(running);
  void running.finally(() => invocations.delete(running));
}

/** Starts draining the function's queue, when it has one (an invoked function waits for events). */
function startSource(): void {
  if (source || !('queueUrl' in options)) return;
  // The event source's client stands for AWS's side (the event source mapping), as in the runtime, and
  // resolves its middleware once, as the runtime's poller does.
  sqs ??= new SQSClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    cacheMiddleware: true,
  });
  source = new SqsEventSource(sqs, handler, {
    ...options,
    pollers: options.pollers || 1,
    onError: (error) => send({ type: 'error', error: String(error) }),
  });
  source.start();
}

// The V8 heap's peak, sampled: with the peak RSS it tells live data from a heap grown by garbage.
let peakHeapUsedMiB = 0;
setInterval(() => {
  peakHeapUsedMiB = Math.max(peakHeapUsedMiB, Math.round(process.memoryUsage().heapUsed / 1_048_576));
}, 250).unref();
const memory = () => ({
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  peakHeapUsedMiB,
  v8Flags: process.execArgv,
});

process.on('message', async (message: ParentMessage) => {
  if (message.type === 'start') {
    startSource();
    send({ type: 'started' });
  } else if (message.type === 'stop') {
    await source?.stop();
    await Promise.all(invocations);
    source = undefined;
    send({ type: 'stopped', ...memory() });
  } else if (message.type === 'invoke') invoke(message.id, message.event);
  else if (message.type === 'cpu-usage')
    send({ type: 'cpu-usage', id: message.id, usage: process.cpuUsage() });
  else if (message.type === 'memory') send({ type: 'memory', id: message.id, ...memory() });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
