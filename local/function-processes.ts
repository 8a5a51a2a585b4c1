/**
 * A function's concurrent execution environments as processes (local/function-process.ts): the job
 * worker's, as many as its event source's maximumConcurrency, and, with `replicateProcesses`, the
 * replicate function's. Each takes batches from the function's queue. Lambda runs each concurrent
 * invocation in its own execution environment; run in the runtime's one thread, every invocation shared
 * one core, so a job's shards could not run any faster than one invocation
 * (docs/performance.md#restore-jobs), nor replication any faster than one core
 * (docs/performance.md#replication-throughput). Each process reports its peak RSS when stopped — the
 * function's memory, measured apart from the runtime and the other functions — and its CPU time when
 * asked; the outcomes its handler publishes are published again on the runtime's channel.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import type { EventSourceOptions } from './sqs-event-source.ts';

/** Peak memory of the processes, as of their last stop. */
export interface ProcessMemory {
  /** The highest peak RSS (MiB) of any process, and each one's. */
  max: number;
  each: number[];
  /** Each process's peak V8 heap in use (MiB, sampled). */
  heapUsedEach: number[];
  /** The V8 flags the processes ran with (the function's heap limits). */
  v8Flags: string[];
}

/**
 * The V8 heap limits in a function's NODE_OPTIONS (serverless.yml): Lambda's Node.js runtime keeps
 * them when NODE_OPTIONS names them (else it sizes the heap from memorySize), so a local execution
 * environment runs with them too. Other options (source maps for the bundles) are Lambda's only.
 */
export function v8HeapFlags(nodeOptions: string | undefined): string[] {
  return (nodeOptions ?? '').split(/\s+/).filter((o) => /^--max[-_](semi|old)[-_]space[-_]size=\d+$/.test(o));
}

export interface FunctionProcesses {
  /** Batches being handled now, over every process. */
  readonly inFlight: number;
  start(): void;
  /** Stops taking messages; resolves once running batches finished. */
  stop(): Promise<void>;
  /** The peak memory the processes reported when last stopped. */
  peakRssMiB(): ProcessMemory;
  /** User + system CPU time of every process so far (`process.cpuUsage()` of each, summed). */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  /** Ends the processes (after stop). */
  close(): Promise<void>;
}

type ChildMessage =
  | { type: 'ready' | 'started' | 'batch-start' }
  | { type: 'batch-end'; outcomes?: unknown[] }
  | { type: 'cpu-usage'; id: number; usage: NodeJS.CpuUsage }
  | { type: 'stopped'; peakRssMiB: number; peakHeapUsedMiB: number; v8Flags: string[] }
  | { type: 'error'; error: string };

/** The runtime's own outcome channel (lib/aws/observability.ts, looked up by name as local/status.ts does). */
const outcomeChannel = channel('s3dr:outcome');

/**
 * Forks `count` processes of the function `options.functionName`, each polling `options.queueUrl` with
 * `options.pollers` pollers (default one), with the V8 flags `v8Flags` (the function's heap limits,
 * {@link v8HeapFlags}); resolves once every one is ready.
 */
export async function startFunctionProcesses(
  count: number,
  options: Omit<EventSourceOptions, 'pollers' | 'onError'> & { endpoint: string; pollers?: number },
  onError: (error: unknown) => void,
  v8Flags: string[] = [],
): Promise<FunctionProcesses> {
  let inFlight = 0;
  let nextId = 0;
  const cpuAnswers = new Map<number, (usage: NodeJS.CpuUsage) => void>();
  const peaks: number[] = Array.from({ length: count }, () => 0);
  const heapPeaks: number[] = Array.from({ length: count }, () => 0);
  let flagsSeen: string[] = [];
  const stopped: (() => void)[] = [];
  const children: ChildProcess[] = await Promise.all(Array.from({ length: count }, (_, i) => forkOne(i)));

  function forkOne(i: number): Promise<ChildProcess> {
    const child = fork(new URL('./function-process.ts', import.meta.url), [], {
      env: { ...process.env, S3DR_FUNCTION_PROCESS: JSON.stringify(options), NODE_OPTIONS: '' },
      execArgv: ['--no-warnings', ...v8Flags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        reject(new Error(`${options.functionName} process ${i} exited (code ${code})`)),
      );
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(child);
        else if (message.type === 'batch-start') inFlight += 1;
        else if (message.type === 'batch-end') {
          for (const outcome of message.outcomes ?? []) outcomeChannel.publish(outcome);
          inFlight -= 1;
        } else if (message.type === 'cpu-usage') {
          cpuAnswers.get(message.id)?.(message.usage);
          cpuAnswers.delete(message.id);
        } else if (message.type === 'error') onError(new Error(message.error));
        else if (message.type === 'stopped') {
          peaks[i] = Math.max(peaks[i] ?? 0, message.peakRssMiB);
          heapPeaks[i] = Math.max(heapPeaks[i] ?? 0, message.peakHeapUsedMiB);
          flagsSeen = message.v8Flags.filter((f) => f !== '--no-warnings');
          stopped.shift()?.();
        }
      });
    });
  }

  const start = () => {
    for (const child of children) child.send({ type: 'start' });
  };
  start();
  return {
    get inFlight() {
      return inFlight;
    },
    start,
    async stop() {
      const all = children.map(() => new Promise<void>((resolve) => stopped.push(resolve)));
      for (const child of children) if (child.connected) child.send({ type: 'stop' });
      await Promise.all(all);
    },
    peakRssMiB: () => ({
      max: Math.max(0, ...peaks),
      each: [...peaks],
      heapUsedEach: [...heapPeaks],
      v8Flags: flagsSeen,
    }),
    async cpuUsage() {
      const each = await Promise.all(
        children.map(
          (child) =>
            new Promise<NodeJS.CpuUsage>((resolve) => {
              const id = nextId++;
              cpuAnswers.set(id, resolve);
              child.send({ type: 'cpu-usage', id });
            }),
        ),
      );
      return each.reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system }), {
        user: 0,
        system: 0,
      });
    },
    async close() {
      await Promise.all(
        children.map((child) => {
          child.removeAllListeners('exit');
          if (!child.connected) return undefined;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.disconnect();
          return exited;
        }),
      );
    },
  };
}
