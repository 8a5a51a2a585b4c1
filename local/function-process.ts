/**
 * Entry point of one function execution environment: the local runtime's `jobWorkerProcesses` and
 * `replicateProcesses` modes run a function's concurrent invocations in processes of their own, as
 * Lambda runs each concurrent invocation in an execution environment of its own (its own CPU and
 * memory), instead of every invocation sharing the runtime's one thread. It drains the function's queue
 * into the real handler (one poller by default: one batch at a time, as one execution environment takes
 * one invocation at a time), tells the parent when a batch starts and ends (the runtime's `drain` and
 * `jobsIdle`) and, with each batch's end, the outcomes the handler published (the status line's
 * counts), answers with its CPU time when asked and with its peak RSS and V8 heap when it stops.
 * The environment is the handlers' (inherited from the runtime, which set it before forking).
 */
import { channel } from 'node:diagnostics_channel';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { recordFunctionCalls } from './call-recorder.ts';
import type { Handler } from './lambda-context.ts';
import { type EventSourceOptions, SqsEventSource } from './sqs-event-source.ts';

type ParentMessage = { type: 'start' } | { type: 'stop' } | { type: 'cpu-usage'; id: number };

/** The functions that can run in processes of their own, by the name serverless.yml gives them. */
const MODULES: Record<string, string> = {
  jobWorker: '../functions/job-worker.ts',
  replicate: '../functions/replicate.ts',
};

const send = (message: unknown) => process.send?.(message);
const options = JSON.parse(process.env.S3DR_FUNCTION_PROCESS ?? '{}') as EventSourceOptions & {
  endpoint: string;
};
const modulePath = MODULES[options.functionName];
if (!modulePath) throw new Error(`no function ${options.functionName} to run in a process of its own`);
recordFunctionCalls();
const fn = (await import(modulePath)).handler as unknown as Handler<SQSEvent, SQSBatchResponse | undefined>;
// The handlers publish outcomes on this channel (lib/aws/observability.ts); the parent's status board
// listens on its own, so they travel with the batch's end.
let outcomes: unknown[] = [];
channel('s3dr:outcome').subscribe((event) => outcomes.push(event));
const handler: typeof fn = async (event, context) => {
  send({ type: 'batch-start' });
  try {
    return await fn(event, context);
  } finally {
    send({ type: 'batch-end', outcomes });
    outcomes = [];
  }
};
// The event source's client stands for AWS's side (the event source mapping), as in the runtime, and
// resolves its middleware once, as the runtime's poller does.
const sqs = new SQSClient({
  endpoint: options.endpoint,
  region: options.region,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  cacheMiddleware: true,
});
let source: SqsEventSource | undefined;

const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
// The V8 heap's peak, sampled: with the peak RSS it tells live data from a heap grown by garbage.
let peakHeapUsedMiB = 0;
setInterval(() => {
  peakHeapUsedMiB = Math.max(peakHeapUsedMiB, Math.round(process.memoryUsage().heapUsed / 1_048_576));
}, 250).unref();

process.on('message', async (message: ParentMessage) => {
  if (message.type === 'start' && !source) {
    source = new SqsEventSource(sqs, handler, {
      ...options,
      pollers: options.pollers || 1,
      onError: (error) => send({ type: 'error', error: String(error) }),
    });
    source.start();
    send({ type: 'started' });
  } else if (message.type === 'stop') {
    await source?.stop();
    source = undefined;
    send({ type: 'stopped', peakRssMiB: peakRssMiB(), peakHeapUsedMiB, v8Flags: process.execArgv });
  } else if (message.type === 'cpu-usage') {
    send({ type: 'cpu-usage', id: message.id, usage: process.cpuUsage() });
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
