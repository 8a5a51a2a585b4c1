/**
 * A function's concurrent execution environments as processes (local/function-process.ts): the job
 * worker's, as many as its event source's maximumConcurrency, and, with `replicateProcesses` and
 * `ingestProcesses`, the replicate and ingest functions'. A function with a queue (replicate, the job
 * worker) has each process take batches from it; an asynchronously invoked one (ingest) gets its events
 * from {@link FunctionProcesses.invoke}, one at a time per process. Lambda runs each concurrent
 * invocation in its own execution environment; run in the runtime's one thread, every invocation shared
 * one core, so a job's shards could not run any faster than one invocation
 * (docs/performance.md#restore-jobs), nor replication any faster than one core
 * (docs/performance.md#replication-throughput), and no function's memory could be told from the
 * others'. Each process reports its peak RSS — the function's memory, measured apart from the runtime
 * and the other functions — and its CPU time when asked; the outcomes its handler publishes are
 * published again on the runtime's channel.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import type { EventSourceOptions } from './sqs-event-source.ts';

/** Peak memory of the processes. */
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
 * The V8 heap limits of a function's execution environment. Lambda's Node.js runtime keeps those its
 * NODE_OPTIONS (serverless.yml) names; when it names neither, its bootstrap script sizes them from the
 * function's memory: semi-spaces 5 % of it, old space 90 % (the runtime's `bootstrap`, which reads
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE). Given `memorySizeMB`, a local execution environment gets the same;
 * without it, the flags NODE_OPTIONS names. Other options (source maps for the bundles) are Lambda's only.
 */
export function v8HeapFlags(nodeOptions: string | undefined, memorySizeMB?: number): string[] {
  const named = (nodeOptions ?? '')
    .split(/\s+/)
    .filter((o) => /^--max[-_](semi|old)[-_]space[-_]size=\d+$/.test(o));
  if (named.length > 0 || memorySizeMB === undefined) return named;
  return [
    `--max-semi-space-size=${Math.floor((memorySizeMB * 5) / 100)}`,
    `--max-old-space-size=${Math.floor((memorySizeMB * 90) / 100)}`,
  ];
}

/**
 * How the processes get their invocations: from the function's queue, each process polling it with
 * `pollers` pollers (default one) on the emulator at `endpoint`; or, for an asynchronously invoked
 * function, from {@link FunctionProcesses.invoke}.
 */
export type FunctionProcessOptions =
  | (Omit<EventSourceOptions, 'pollers' | 'onError'> & { endpoint: string; pollers?: number })
  | { functionName: string; timeoutMs: number };

export interface FunctionProcesses {
  /** Invocations (batches, or invoked events) running or waiting now, over every process. */
  readonly inFlight: number;
  start(): void;
  /** Stops taking messages; resolves once running invocations finished. */
  stop(): Promise<void>;
  /** The peak memory the processes reported when last stopped. */
  peakRssMiB(): ProcessMemory;
  /** The peak memory of the processes so far (asked of each, running or not). */
  memory(): Promise<ProcessMemory>;
  /** User + system CPU time of every process so far (`process.cpuUsage()` of each, summed). */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  /**
   * One invocation of an invoked function, run by the first idle process (each runs one at a time, as
   * an execution environment does; the others wait here). Rejects with the handler's error.
   */
  invoke(event: unknown): Promise<unknown>;
  /** Ends the processes (after stop). */
  close(): Promise<void>;
}

interface Memory {
  peakRssMiB: number;
  peakHeapUsedMiB: number;
  v8Flags: string[];
}

type ChildMessage =
  | { type: 'ready' | 'started' | 'batch-start' }
  | { type: 'batch-end'; outcomes?: unknown[] }
  | {
      type: 'invoke-end';
      id: number;
      result?: unknown;
      error?: { name: string; message: string };
      outcomes?: unknown[];
    }
  | { type: 'cpu-usage'; id: number; usage: NodeJS.CpuUsage }
  | ({ type: 'memory'; id: number } & Memory)
  | ({ type: 'stopped' } & Memory)
  | { type: 'error'; error: string };

/** The runtime's own outcome channel (lib/aws/observability.ts, looked up by name as local/status.ts does). */
const outcomeChannel = channel('s3dr:outcome');

interface Waiting {
  event: unknown;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

/** An error as the handler threw it, by name and message (what Lambda reports of a failed invocation). */
function handlerError(error: { name: string; message: string }): Error {
  return Object.assign(new Error(error.message), { name: error.name });
}

/** The processes of one function, and the invocations they run or that wait for one. */
class FunctionProcessGroup implements FunctionProcesses {
  /** Batches running in each process (a process that dies takes its own with it). */
  private readonly batches: number[];
  private v8Flags: string[] = [];
  private started = false;
  private nextId = 0;
  private children: ChildProcess[] = [];
  private readonly answers = new Map<number, (message: ChildMessage) => void>();
  private readonly running = new Map<number, Waiting & { child: number }>();
  private readonly waiting: Waiting[] = [];
  private readonly busy: boolean[];
  private readonly peaks: Memory[];
  private readonly stopped: (() => void)[] = [];
  private readonly options: FunctionProcessOptions;
  private readonly onError: (error: unknown) => void;

  constructor(count: number, options: FunctionProcessOptions, onError: (error: unknown) => void) {
    this.options = options;
    this.onError = onError;
    this.busy = Array.from({ length: count }, () => false);
    this.batches = Array.from({ length: count }, () => 0);
    this.peaks = Array.from({ length: count }, () => ({ peakRssMiB: 0, peakHeapUsedMiB: 0, v8Flags: [] }));
  }

  get inFlight(): number {
    return this.batches.reduce((a, b) => a + b, 0) + this.running.size + this.waiting.length;
  }

  /** Forks the processes with the V8 flags `v8Flags`; resolves once every one is ready. */
  async fork(v8Flags: string[]): Promise<void> {
    this.v8Flags = v8Flags;
    this.children = await Promise.all(this.busy.map((_, i) => this.forkOne(i, v8Flags)));
    for (const [i, child] of this.children.entries()) this.watch(i, child);
  }

  /**
   * A process that dies (killed, out of memory) fails the invocation it ran, as Lambda reports a runtime
   * that exited (`Runtime.ExitError`): the caller retries an asynchronous one, and a batch's messages
   * come back after their visibility timeout. A new process takes its place, as Lambda starts a new
   * execution environment. `close` removes this watch before it ends the processes.
   */
  private watch(i: number, child: ChildProcess): void {
    // A send racing the death is lost, not thrown; the exit below fails that invocation.
    child.on('error', (error) => this.onError(error));
    child.once('disconnect', () => {
      this.busy[i] = true;
    });
    child.once('exit', (code, signal) => {
      const why = `${this.options.functionName} process ${i} exited (${signal ?? `code ${code}`})`;
      // Nothing more goes to it ('exit' can come before 'disconnect').
      this.busy[i] = true;
      for (const [id, invocation] of this.running) {
        if (invocation.child !== i) continue;
        this.running.delete(id);
        invocation.reject(Object.assign(new Error(why), { name: 'Runtime.ExitError' }));
      }
      this.batches[i] = 0;
      this.onError(new Error(why));
      void this.forkOne(i, this.v8Flags).then(
        (next) => {
          this.children[i] = next;
          this.watch(i, next);
          this.busy[i] = false;
          if (this.started) next.send({ type: 'start' });
          this.dispatch();
        },
        (error: unknown) => this.onError(error),
      );
    });
  }

  private forkOne(i: number, v8Flags: string[]): Promise<ChildProcess> {
    const child = fork(new URL('./function-process.ts', import.meta.url), [], {
      env: { ...process.env, S3DR_FUNCTION_PROCESS: JSON.stringify(this.options), NODE_OPTIONS: '' },
      execArgv: ['--no-warnings', ...v8Flags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        reject(new Error(`${this.options.functionName} process ${i} exited (code ${code})`)),
      );
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(child);
        else this.onMessage(i, message);
      });
    });
  }

  private onMessage(i: number, message: ChildMessage): void {
    if (message.type === 'batch-start') this.batches[i] = (this.batches[i] ?? 0) + 1;
    else if (message.type === 'batch-end') {
      for (const outcome of message.outcomes ?? []) outcomeChannel.publish(outcome);
      this.batches[i] = (this.batches[i] ?? 1) - 1;
    } else if (message.type === 'invoke-end') this.invoked(i, message);
    else if (message.type === 'cpu-usage' || message.type === 'memory') {
      if (message.type === 'memory') this.notePeak(i, message);
      this.answers.get(message.id)?.(message);
      this.answers.delete(message.id);
    } else if (message.type === 'error') this.onError(new Error(message.error));
    else if (message.type === 'stopped') {
      this.notePeak(i, message);
      this.stopped.shift()?.();
    }
  }

  /** An invocation ended in process `i`: its caller learns how, and the process takes the next one. */
  private invoked(i: number, message: Extract<ChildMessage, { type: 'invoke-end' }>): void {
    for (const outcome of message.outcomes ?? []) outcomeChannel.publish(outcome);
    const invocation = this.running.get(message.id);
    this.running.delete(message.id);
    this.busy[i] = false;
    if (message.error) invocation?.reject(handlerError(message.error));
    else invocation?.resolve(message.result);
    this.dispatch();
  }

  /** Hands waiting invocations to idle processes. */
  private dispatch(): void {
    for (let i = 0; i < this.children.length && this.waiting.length > 0; i++) {
      if (this.busy[i] || !this.children[i]?.connected) continue;
      const next = this.waiting.shift() as Waiting;
      const id = this.nextId++;
      this.busy[i] = true;
      this.running.set(id, { ...next, child: i });
      this.children[i]?.send({ type: 'invoke', id, event: next.event });
    }
  }

  private notePeak(i: number, m: Memory): void {
    const p = this.peaks[i];
    if (!p) return;
    p.peakRssMiB = Math.max(p.peakRssMiB, m.peakRssMiB);
    p.peakHeapUsedMiB = Math.max(p.peakHeapUsedMiB, m.peakHeapUsedMiB);
    p.v8Flags = m.v8Flags.filter((f) => f !== '--no-warnings');
  }

  /** Asks every process the same question; their answers, in process order. */
  private ask<T>(type: 'cpu-usage' | 'memory', pick: (m: ChildMessage) => T): Promise<T[]> {
    return Promise.all(
      this.children.map(
        (child) =>
          new Promise<T>((resolve) => {
            const id = this.nextId++;
            this.answers.set(id, (message) => resolve(pick(message)));
            child.send({ type, id });
          }),
      ),
    );
  }

  start(): void {
    this.started = true;
    for (const child of this.children) child.send({ type: 'start' });
  }

  async stop(): Promise<void> {
    this.started = false;
    const all = this.children.map(() => new Promise<void>((resolve) => this.stopped.push(resolve)));
    for (const child of this.children) if (child.connected) child.send({ type: 'stop' });
    await Promise.all(all);
  }

  peakRssMiB(): ProcessMemory {
    return {
      max: Math.max(0, ...this.peaks.map((p) => p.peakRssMiB)),
      each: this.peaks.map((p) => p.peakRssMiB),
      heapUsedEach: this.peaks.map((p) => p.peakHeapUsedMiB),
      v8Flags: this.peaks[0]?.v8Flags ?? [],
    };
  }

  async memory(): Promise<ProcessMemory> {
    await this.ask('memory', () => undefined);
    return this.peakRssMiB();
  }

  async cpuUsage(): Promise<NodeJS.CpuUsage> {
    const each = await this.ask('cpu-usage', (m) =>
      m.type === 'cpu-usage' ? m.usage : { user: 0, system: 0 },
    );
    return each.reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system }), {
      user: 0,
      system: 0,
    });
  }

  invoke(event: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map((child) => {
        child.removeAllListeners('exit');
        child.removeAllListeners('disconnect');
        if (!child.connected) return undefined;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.disconnect();
        return exited;
      }),
    );
  }
}

/**
 * Forks `count` processes of the function `options.functionName` with the V8 flags `v8Flags` (the
 * function's heap limits, {@link v8HeapFlags}), and starts them; resolves once every one is ready.
 */
export async function startFunctionProcesses(
  count: number,
  options: FunctionProcessOptions,
  onError: (error: unknown) => void,
  v8Flags: string[] = [],
): Promise<FunctionProcesses> {
  const group = new FunctionProcessGroup(count, options, onError);
  await group.fork(v8Flags);
  group.start();
  return group;
}
