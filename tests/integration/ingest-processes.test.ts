/**
 * The local runtime's ingest function in processes of its own (`ingestProcesses`), as Lambda runs an
 * asynchronously invoked function: "Lambda places the event in a queue and returns a success response
 * without additional information. A separate process reads events from the queue and sends them to your
 * function" ("Invoking a Lambda function asynchronously",
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html), each execution environment
 * handling one invocation at a time ("Understanding the Lambda execution environment lifecycle",
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). S3's events then wait
 * in the runtime (the stand-in for that queue) while ingest runs apart, with its own memory and the V8
 * heap limits Lambda's Node.js runtime derives from its memorySize; a failed invocation is the handler's
 * error, which the runtime retries and sends on as it does in one process.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { toDrKey } from '../../lib/core/key-mapping.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { startFunctionProcesses, v8HeapFlags } from '../../local/function-processes.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { S3Notifier } from '../../local/s3-notifier.ts';
import { bodyFor, putObject, snapshot } from '../helpers/objects.ts';
import { writeAndExpectReplicated } from '../helpers/replicated.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;

/** This process's function processes: here, the runtime's ingest processes. */
function ingestPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('function-process.ts'))
    .map((line) => Number.parseInt(line.trim(), 10));
}

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    ingestProcesses: 2,
    env: { S3DR_DELETE_POLICY: 'retain' },
  });
}, 120_000);

afterAll(async () => {
  await rt?.stop();
});

describe('ingest in processes of its own', () => {
  it('queues every event for replication, and the runtime counts what the processes ingested', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `ingest-procs/${String(i).padStart(3, '0')}.bin`);
    const cpuBefore = await rt.functionProcessesCpuUsage();

    await writeAndExpectReplicated(rt, keys, 200);
    // The outcomes each ingest process published reached the runtime's status board.
    expect(rt.status.snapshot().eventsIngested).toBe(keys.length);
    expect(rt.backlog()).toEqual({ notifications: 0, ingestInvocations: 0 });
    // Ingest ran in the processes: they spent CPU, which this process cannot see.
    const cpu = await rt.functionProcessesCpuUsage();
    expect(cpu.user + cpu.system).toBeGreaterThan(cpuBefore.user + cpuBefore.system);
  }, 300_000);

  // serverless.yml names no heap limits in ingest's NODE_OPTIONS: Lambda's Node.js runtime then sizes
  // them from memorySize (its bootstrap script: semi-spaces 5 %, old space 90 % of it).
  it('runs each ingest process with the V8 heap limits Lambda derives from its memorySize', async () => {
    const memory = await rt.functionProcessesMemory();
    expect(Object.keys(memory)).toEqual(['ingest']);
    expect(memory.ingest?.each).toHaveLength(2);
    for (const mib of memory.ingest?.each ?? []) expect(mib).toBeGreaterThan(20);
    expect(rt.settings.memorySizeMB.ingest).toBe(256);
    expect(memory.ingest?.v8Flags).toEqual(['--max-semi-space-size=12', '--max-old-space-size=230']);
  }, 120_000);

  // Lambda reports an execution environment that died mid-invocation as a failed invocation
  // (Runtime.ExitError), which an asynchronous invocation retries, and starts new environments.
  it('replaces an ingest process that died, and the events it would have run are still ingested', async () => {
    const killed = ingestPids();
    expect(killed).toHaveLength(2);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    const source = rt.config.sourceBuckets[0]!;
    const before = rt.status.snapshot().eventsIngested;
    const keys = Array.from({ length: 20 }, (_, i) => `ingest-died/${String(i).padStart(3, '0')}.bin`);

    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, 100)));
    await rt.drain(scaled(120_000));

    expect(rt.status.snapshot().eventsIngested - before).toBe(keys.length);
    for (const key of keys) {
      const dr = await snapshot(rt.s3, rt.config.drBucket, toDrKey(rt.config.keyLayout, source, key));
      expect(dr).toBeDefined();
    }
    const now = ingestPids();
    expect(now).toHaveLength(2);
    for (const pid of now) expect(killed).not.toContain(pid);
  }, 300_000);

  it("answers an invocation with the handler's result, and a failed one with the handler's error", async () => {
    // One more ingest environment beside the runtime's, with the handlers' environment it set.
    const ingest = await startFunctionProcesses(
      1,
      { functionName: 'ingest', timeoutMs: scaled(30_000) },
      () => undefined,
      v8HeapFlags(undefined, rt.settings.memorySizeMB.ingest),
    );
    try {
      // A notification as the runtime's S3 stand-in builds it.
      const events: { Records: unknown[] }[] = [];
      const notifier = new S3Notifier({
        region: rt.config.sourceRegion,
        buckets: rt.config.sourceBuckets,
        deliver: (event) => events.push(event),
      });
      const bucket = rt.config.sourceBuckets[0]!;
      notifier.notify({
        bucket,
        key: 'ingest-procs/direct.bin',
        eventName: 'ObjectCreated:Put',
        time: new Date(),
        size: 1,
      });
      notifier.flush();
      await expect(ingest.invoke(events[0])).resolves.toEqual({ queued: 1, ignored: 0 });
      // A malformed record fails the invocation (→ async retry → DLQ): the caller sees the handler's error.
      await expect(ingest.invoke({ Records: [{ s3: {} }] })).rejects.toMatchObject({
        name: 'InvalidPayloadError',
      });
      expect(ingest.inFlight).toBe(0);
    } finally {
      await ingest.close();
    }
    await rt.drain(scaled(60_000));
  }, 120_000);
});
