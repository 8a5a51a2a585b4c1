/**
 * The benchmarks tell the emulator's share of the CPU from the handlers' (docs/performance.md#replication-throughput):
 * the emulator in its own process (local/emulator.ts `startEmulatorProcess`) answers `cpuUsage()` with
 * that process's CPU time, not the caller's, and keeps answering request counts over the same channel.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Emulator, startEmulatorProcess } from '../../local/emulator.ts';
import { emulatorClient } from '../helpers/emulator.ts';

let emulator: Emulator;
let s3: S3Client;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

beforeAll(async () => {
  emulator = await startEmulatorProcess({ port: 0, statusSnapshot: () => ({}) });
  s3 = emulatorClient(emulator.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'cpu-bucket' }));
});

afterAll(async () => {
  s3.destroy();
  await emulator.stop();
});

describe('the emulator process reports its own CPU time', () => {
  it("does not count this process's work, and grows with the requests it serves", async () => {
    const idleBefore = await emulator.cpuUsage();
    // This process works; the emulator, asked nothing, does not.
    const ours = process.cpuUsage();
    let digest = Buffer.alloc(32);
    for (let i = 0; i < 50_000; i++) digest = createHash('sha256').update(digest).digest();
    const oursMs = cpuMs(process.cpuUsage(ours));
    const idleAfter = await emulator.cpuUsage();
    expect(cpuMs(idleAfter) - cpuMs(idleBefore)).toBeLessThan(oursMs / 2);

    const before = await emulator.requestCounts();
    for (let i = 0; i < 50; i++) {
      await s3.send(new PutObjectCommand({ Bucket: 'cpu-bucket', Key: `k${i}`, Body: digest }));
    }
    const served = await emulator.cpuUsage();
    expect(cpuMs(served)).toBeGreaterThan(cpuMs(idleAfter));
    expect((await emulator.requestCounts()).PutObject).toBe((before.PutObject ?? 0) + 50);
  }, 30_000);
});
