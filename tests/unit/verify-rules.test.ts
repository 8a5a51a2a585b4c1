/**
 * Verify under replication rules. What S3 does that this relies on: ListObjectsV2 names each object's
 * storage class, S3 Standard included (`Contents.StorageClass`, S3 API Reference, ListObjectsV2 / Object),
 * so a DR copy in the wrong class costs no extra request to find; a tag rule needs the key's tags
 * (GetObjectTagging), read only for keys such a rule may match.
 */
import { describe, expect, it } from '@jest/globals';
import { systemClock } from '../../lib/core/ports.ts';
import { parseRules, type ReplicationRule } from '../../lib/core/replication-rules.ts';
import type { Task } from '../../lib/core/task.ts';
import { replicateKey } from '../../lib/replicate/replicate-key.ts';
import { type VerifyBucketSettings, verifyBucket } from '../../lib/verify/bucket.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentLog } from '../helpers/telemetry.ts';

function rules(value: unknown): ReplicationRule[] {
  const parsed = parseRules(value);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.rules;
}

const ruleSet = rules([
  { id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false },
  { id: 'no-backup', filter: { tags: { backup: 'no' } }, replicate: false },
  { id: 'archive', filter: { prefix: 'archive/' }, drStorageClass: 'GLACIER_IR', deletePolicy: 'retain' },
]);
const defaults = { drStorageClass: 'STANDARD', deletePolicy: 'mirror' } as const;

const settings = (overrides: Partial<VerifyBucketSettings> = {}): VerifyBucketSettings => ({
  keyLayout: 'flat',
  deletePolicy: 'mirror',
  concurrency: 2,
  safetyMarginMs: 1000,
  graceSeconds: 0,
  prefix: '',
  repair: true,
  deep: 0,
  copyTags: true,
  rules: { rules: ruleSet, defaults },
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
  return { source, dr, sent, deps };
}

describe('verify under replication rules', () => {
  it('counts excluded keys as neither missing nor orphaned, and queues no repair for them', async () => {
    const { source, dr, sent, deps } = setup();
    source.put('tmp/only-in-source', 'a');
    dr.put('tmp/only-in-dr', 'b');
    source.put('photos/skip.jpg', 'c', { tags: { backup: 'no' } });
    // Copied before the tag excluded it, and since deleted from the source: its DR tags decide.
    dr.put('photos/was-excluded.jpg', 'd', { tags: { backup: 'no' } });
    source.put('photos/ok.jpg', 'e');
    dr.put('photos/ok.jpg', 'e');

    const report = await verifyBucket(deps, settings());

    expect(report.counts).toMatchObject({ ok: 1, missing: 0, orphaned: 0, mismatched: 0 });
    expect(report.rules).toMatchObject({ excluded: 4, wrongStorageClass: 0 });
    expect(report.rules?.samples.excluded.sort()).toEqual(
      ['photos/skip.jpg', 'photos/was-excluded.jpg', 'tmp/only-in-dr', 'tmp/only-in-source'].sort(),
    );
    expect(sent).toEqual([]);
    // Keys under tmp/ are decided by their prefix: tags are read only for the three photos/ keys.
    expect(report.rules?.taggingRequests).toBe(3);
  });

  it('reports a DR copy in another class than its rule’s as mismatched; the repair copies it in the right class', async () => {
    const { source, dr, sent, deps } = setup();
    source.put('archive/2020.tar', 'old');
    dr.put('archive/2020.tar', 'old'); // STANDARD, but the archive rule says GLACIER_IR
    source.put('photos/a.jpg', 'a');
    dr.put('photos/a.jpg', 'a', { storageClass: 'GLACIER_IR' }); // the default is STANDARD

    const report = await verifyBucket(deps, settings());
    expect(report.counts).toMatchObject({ ok: 0, mismatched: 2 });
    expect(report.rules).toMatchObject({ wrongStorageClass: 2 });
    expect(sent.map((t) => t.key).sort()).toEqual(['archive/2020.tar', 'photos/a.jpg']);

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
          rules: ruleSet,
        },
      });
      expect(outcome.kind).toBe('copied');
    }
    expect(dr.objects.get('archive/2020.tar')?.storageClass).toBe('GLACIER_IR');
    expect(dr.objects.get('photos/a.jpg')?.storageClass ?? 'STANDARD').toBe('STANDARD');
    const again = await verifyBucket(deps, settings());
    expect(again.counts).toMatchObject({ ok: 2, mismatched: 0 });
    expect(sent).toEqual([]);
  });

  it('repairs an orphan only under a mirror rule: a retain rule keeps its DR copies of deleted keys', async () => {
    const { dr, sent, deps } = setup();
    dr.put('archive/deleted.tar', 'x');
    dr.put('photos/deleted.jpg', 'y');
    const report = await verifyBucket(deps, settings());
    expect(report.counts).toMatchObject({ orphaned: 2 });
    expect(sent.map((t) => t.key)).toEqual(['photos/deleted.jpg']);
  });

  it('reads no tags and reports nothing about rules when the stage has none', async () => {
    const { source, dr, deps } = setup();
    source.put('tmp/a', 'a');
    dr.put('tmp/a', 'a', { storageClass: 'GLACIER' });
    const report = await verifyBucket(deps, settings({ rules: undefined }));
    expect(report.counts).toMatchObject({ ok: 1 });
    expect(report.rules).toBeUndefined();
  });
});
