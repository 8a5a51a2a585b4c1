/**
 * A synchronous restore that the deadline interrupts part-way through a batch, over the in-memory S3
 * (tests/helpers/memory-store.ts): the clock reports the deadline near once a number of keys have been
 * copied, so the test decides where the batch is cut, with no timer.
 */

import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import type { Clock } from '../../lib/core/ports.ts';
import { type RestoreDeps, restoreObjects } from '../../lib/restore/objects.ts';
import { parseRestorePayload } from '../../lib/restore/payload.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentTelemetry } from '../helpers/telemetry.ts';

const settings = loadConfig({
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'us-east-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'us-west-2',
  // One key at a time: each key checks the deadline after the one before it was copied.
  S3DR_RESTORE_CONCURRENCY: '1',
  S3DR_SAFETY_MARGIN_MS: '1000',
});

function setup(keys: string[]) {
  const world = new MemoryWorld();
  const dr = world.bucket('dr-bucket', { versioned: true });
  world.bucket('source-bucket');
  for (const key of keys) dr.put(key, `body of ${key}`, { metadata: { 's3dr-source-etag': 'x' } });
  const copied = () =>
    world.log.filter((op) => op.bucket === 'source-bucket' && op.op === 'copy').map((op) => op.key);
  /** The deadline is near once this many keys were copied (in all runs so far). */
  let deadlineAfter = Number.POSITIVE_INFINITY;
  const clock: Clock = {
    now: () => new Date('2026-12-01T10:00:00Z'),
    remainingMs: () => (copied().length >= deadlineAfter ? 0 : 900_000),
  };
  const deps: RestoreDeps = {
    dr,
    storeFor: (bucket) => world.bucket(bucket),
    clock,
    settings,
    ...silentTelemetry(),
  };
  const deadlineAfterCopies = (n: number) => {
    deadlineAfter = n;
  };
  return { deps, copied, deadlineAfterCopies };
}

describe('a restore the deadline stops in the middle of a batch', () => {
  it('returns a cursor after the last key it restored, from which the next run restores only the rest', async () => {
    // Prepare: five keys, one batch; the deadline comes once two of them are copied.
    const { deps, copied, deadlineAfterCopies } = setup(['k1', 'k2', 'k3', 'k4', 'k5']);
    deadlineAfterCopies(2);

    // Act
    const first = await restoreObjects(parseRestorePayload({ prefix: '', dryRun: false }), deps);
    deadlineAfterCopies(Number.POSITIVE_INFINITY);
    const second = await restoreObjects(
      parseRestorePayload({ prefix: '', dryRun: false, cursor: first.cursor }),
      deps,
    );

    // Assess: the keys not started are left to the cursor, and none is restored twice.
    expect(first).toMatchObject({ complete: false, stoppedBy: 'deadline', examined: 2 });
    expect(first.results?.restored.sample).toEqual(['k1', 'k2']);
    expect(second).toMatchObject({ complete: true, examined: 3 });
    expect(copied()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
  });
});
