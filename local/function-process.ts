/**
 * Entry point of one job worker execution environment: the local runtime's `jobWorkerProcesses` mode
 * runs each concurrent job worker in a process of its own, as Lambda runs each concurrent invocation
 * in an execution environment of its own (its own CPU and memory), instead of every worker sharing the
 * runtime's one thread. It drains the job queue with one poller (one batch at a time, as one execution
 * environment takes one invocation at a time) into the real job-worker handler, tells the parent when
 * a batch starts and ends (the runtime's `jobsIdle`), and answers with its peak RSS and V8 heap when it
 * stops.
 * The environment is the handlers' (inherited from the runtime, which set it before forking).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { recordFunctionCalls } from './call-recorder.ts';
import type { Handler } from './lambda-context.ts';
import { type EventSourceOptions, SqsEventSource } from './sqs-event-source.ts';

type ParentMessage = { type: 'start' } | { type: 'stop' };

const send = (message: unknown) => process.send?.(message);
const options = JSON.parse(process.env.S3DR_FUNCTION_PROCESS ?? '{}') as EventSourceOptions & {
  endpoint: string;
};
recordFunctionCalls();
const worker = (await import('../functions/job-worker.ts')).handler as unknown as Handler<
  SQSEvent,
  SQSBatchResponse | undefined
>;
const handler: typeof worker = async (event, context) => {
  send({ type: 'batch-start' });
  try {
    return await worker(event, context);
  } finally {
    send({ type: 'batch-end' });
  }
};
// The event source's client stands for AWS's side (the event source mapping), as in the runtime.
const sqs = new SQSClient({
  endpoint: options.endpoint,
  region: options.region,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
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
      pollers: 1,
      onError: (error) => send({ type: 'error', error: String(error) }),
    });
    source.start();
    send({ type: 'started' });
  } else if (message.type === 'stop') {
    await source?.stop();
    source = undefined;
    send({ type: 'stopped', peakRssMiB: peakRssMiB(), peakHeapUsedMiB, v8Flags: process.execArgv });
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
