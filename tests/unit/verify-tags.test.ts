/**
 * Deep verification reports tag drift (copyTags on). A tag change leaves the ETag ("The ETag reflects
 * changes only to the contents of an object, not its metadata", S3 API reference, data type Object) and
 * Last-Modified as they were, so no listing shows it: deep mode compares the tag sets (GetObjectTagging,
 * S3 API reference) of the keys it samples, reports the drifted ones, and queues repairs that replicate
 * answers by rewriting the DR tags alone.
 */
import { describe, expect, it } from '@jest/globals';
import { systemClock } from '../../lib/core/ports.ts';
import type { Task } from '../../lib/core/task.ts';
import { replicateKey } from '../../lib/replicate/replicate-key.ts';
import { type VerifyBucketSettings, verifyBucket } from '../../lib/verify/bucket.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentLog } from '../helpers/telemetry.ts';

const settings = (overrides: Partial<VerifyBucketSettings> = {}): VerifyBucketSettings => ({
  keyLayout: 'flat',
  deletePolicy: 'mirror',
  concurrency: 2,
  safetyMarginMs: 1000,
  graceSeconds: 0,
  prefix: '',
  repair: true,
  deep: 1,
  copyTags: true,
  ...overrides,
});

function setup() {
  const world = new MemoryWorld();
  const source = world.bucket('source-bucket');
  const dr = world.bucket('dr-bucket', { versioned: true });
  const sent: Task[] = [];
  const deps = {
    source,
    dr,
    queue: { send: async (tasks: Task[]) => void sent.push(...tasks) },
    clock: systemClock(),
    log: silentLog,
  };
  // A faithful copy (same bytes, so the same ETag), with tags as given.
  const both = (
    key: string,
    body: string,
    srcTags: Record<string, string>,
    drTags: Record<string, string>,
  ) => {
    source.put(key, body, { tags: srcTags });
    dr.put(key, body, { tags: drTags });
  };
  return { world, source, dr, sent, deps, both };
}

describe('deep verify: tag drift', () => {
  it('reports keys whose DR tags differ from the source, with samples, and queues a repair for each', async () => {
    const { sent, deps, both } = setup();
    both('same.txt', 'a', { team: 'blue' }, { team: 'blue' });
    both('changed.txt', 'b', { stage: 'final' }, { stage: 'raw' });
    both('removed.txt', 'c', {}, { stage: 'raw' });
    both('untagged.txt', 'd', {}, {});

    const report = await verifyBucket(deps, settings());

    // Content is fine everywhere: the keys stay `ok`; the tag drift is reported beside it.
    expect(report.counts).toMatchObject({ ok: 4, missing: 0, mismatched: 0 });
    expect(report.deep?.tags).toEqual({ compared: 4, drifted: 2, samples: ['changed.txt', 'removed.txt'] });
    expect(report.requests.tagging).toBe(8);
    expect(sent.map((t) => [t.key, t.eventName])).toEqual([
      ['changed.txt', 'Verify:Repair'],
      ['removed.txt', 'Verify:Repair'],
    ]);
  });

  it('the repairs make replicate rewrite only the DR tags; the next deep pass finds no drift', async () => {
    const { source, dr, sent, deps, both } = setup();
    both('changed.txt', 'b', { stage: 'final' }, { stage: 'raw' });
    both('removed.txt', 'c', {}, { stage: 'raw' });
    // Replicate recognises DR copies by the source ETag it records; these were written by the test.
    for (const key of ['changed.txt', 'removed.txt']) {
      const o = dr.objects.get(key);
      if (o) o.metadata = { 's3dr-source-etag': o.etag };
    }
    await verifyBucket(deps, settings());
    const versionsBefore = dr.history.length;

    for (const task of sent.splice(0)) {
      const outcome = await replicateKey(task, {
        source,
        dr,
        clock: systemClock(),
        log: silentLog,
        settings: {
          deletePolicy: 'mirror',
          keyLayout: 'flat',
          drStorageClass: 'STANDARD',
          drKmsKeyId: undefined,
          copyTags: true,
          multipartThreshold: 1024,
          partSize: 1024,
          partConcurrency: 1,
          safetyMarginMs: 1,
        },
      });
      expect(outcome.kind).toBe('tagged');
    }
    expect(dr.objects.get('changed.txt')?.tags).toEqual({ stage: 'final' });
    expect(dr.objects.get('removed.txt')?.tags).toEqual({});
    // No byte was copied: no new DR version.
    expect(dr.history.length).toBe(versionsBefore);

    const again = await verifyBucket(deps, settings({ prefix: '' }));
    expect(again.deep?.tags).toMatchObject({ drifted: 0 });
    expect(sent).toEqual([]);
  });

  it('does not look at tags when they are not replicated (copyTags off), nor outside deep mode', async () => {
    const { deps, both } = setup();
    both('changed.txt', 'b', { stage: 'final' }, { stage: 'raw' });
    const off = await verifyBucket(deps, settings({ copyTags: false }));
    expect(off.deep?.tags).toBeUndefined();
    expect(off.requests.tagging).toBe(0);
    const shallow = await verifyBucket(deps, settings({ deep: 0 }));
    expect(shallow.deep).toBeUndefined();
    expect(shallow.requests.tagging).toBe(0);
  });
});
