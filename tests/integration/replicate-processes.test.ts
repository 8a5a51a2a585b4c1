/**
 * The local runtime's replicate function in processes of its own (`replicateProcesses`), as Lambda runs
 * concurrent invocations of a function: "For each concurrent request, Lambda provisions a separate
 * instance of your execution environment" ("Understanding Lambda function scaling",
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), and an SQS event source mapping
 * "starts processing five batches at a time with five concurrent invocations of your function", scaling
 * up while messages remain ("Configuring scaling behavior for SQS event source mappings",
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). Replication then runs on more
 * than one core (docs/performance.md#replication-throughput) and stays what it is in one process: every
 * object reaches the DR bucket with its bytes, and the status line counts what the processes copied.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { writeAndExpectReplicated } from '../helpers/replicated.ts';

let rt: LocalRuntime;

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    pollers: 4,
    replicateProcesses: 2,
    env: { S3DR_DELETE_POLICY: 'retain' },
  });
}, 120_000);

afterAll(async () => {
  await rt?.stop();
});

describe('replicate in processes of its own', () => {
  it('copies every object to DR, and the runtime counts what the processes copied', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `procs/${String(i).padStart(3, '0')}.bin`);
    const cpuBefore = await rt.functionProcessesCpuUsage();

    await writeAndExpectReplicated(rt, keys, 300);
    // The outcomes each process's handler published reached the runtime's status board.
    expect(rt.status.snapshot().objectsCopied).toBe(keys.length);
    // The copies were made in the function processes: they spent CPU, which this process cannot see.
    const cpu = await rt.functionProcessesCpuUsage();
    expect(cpu.user + cpu.system).toBeGreaterThan(cpuBefore.user + cpuBefore.system);
  }, 300_000);

  // serverless.yml names no heap limits in replicate's NODE_OPTIONS (only --enable-source-maps): Lambda's
  // Node.js runtime then sizes V8's heap from memorySize (its bootstrap script: semi-spaces 5 %, old
  // space 90 % of it), so each replicate process runs with those, and reports its own peak RSS.
  it('runs each replicate process with the V8 heap limits Lambda derives from its memorySize', async () => {
    const memory = await rt.functionProcessesMemory();
    expect(memory.replicate?.each).toHaveLength(2);
    for (const mib of memory.replicate?.each ?? []) expect(mib).toBeGreaterThan(20);
    expect(rt.settings.memorySizeMB.replicate).toBe(512);
    expect(memory.replicate?.v8Flags).toEqual(['--max-semi-space-size=25', '--max-old-space-size=460']);
  }, 120_000);
});
