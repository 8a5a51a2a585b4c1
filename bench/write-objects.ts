import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Writes `count` objects of `bytes` bytes named `<prefix><000000…>` into a bucket, with
 * bench/load-writer.ts in its own process (so the load generator does not share a core with what it
 * measures). `rate` > 0 offers that many objects per second instead of writing as fast as possible.
 * Resolves with the writer's wall-clock and CPU milliseconds.
 */
export async function writeObjects(options: {
  endpoint: string;
  bucket: string;
  prefix: string;
  count: number;
  bytes: number;
  concurrency: number;
  rate?: number;
}): Promise<{ ms: number; cpuMs: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--no-warnings',
      new URL('./load-writer.ts', import.meta.url).pathname,
      options.endpoint,
      options.bucket,
      options.prefix,
      String(options.count),
      String(options.bytes),
      String(options.concurrency),
      String(options.rate ?? 0),
    ],
    { maxBuffer: 1 << 20 },
  );
  const { ms, cpuMs } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { ms: number; cpuMs: number };
  return { ms, cpuMs };
}
