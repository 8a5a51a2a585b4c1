import { expect } from '@jest/globals';
import { toDrKey } from '../../lib/core/key-mapping.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { bodyFor, putObject, snapshot } from './objects.ts';
import { scaled } from './time-scale.ts';

/**
 * Writes `keys` (`size` bytes each, 8 at a time) into the runtime's first source bucket, waits for the
 * pipeline to drain, and expects each key in DR with the source's bytes.
 */
export async function writeAndExpectReplicated(
  rt: LocalRuntime,
  keys: readonly string[],
  size: number,
): Promise<void> {
  const source = rt.config.sourceBuckets[0]!;
  await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, bodyFor(key, 1, size)));
  await rt.drain(scaled(120_000));
  for (const key of keys) {
    const [src, dr] = await Promise.all([
      snapshot(rt.s3, source, key),
      snapshot(rt.s3, rt.config.drBucket, toDrKey(rt.config.keyLayout, source, key)),
    ]);
    expect(dr?.sha256).toBe(src?.sha256);
  }
}
