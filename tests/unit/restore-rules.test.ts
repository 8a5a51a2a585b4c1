/**
 * A restore under replication rules says which rule each key it planned came under: by prefix where
 * that settles it, otherwise by the tags of the DR version it restores (GetObjectTagging takes a
 * `versionId`: S3 API Reference, GetObjectTagging).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import { systemClock } from '../../lib/core/ports.ts';
import { restoreObjects } from '../../lib/restore/objects.ts';
import { parseRestorePayload } from '../../lib/restore/payload.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { silentTelemetry } from '../helpers/telemetry.ts';

const RULES = [
  { id: 'archive', filter: { prefix: 'archive/' }, drStorageClass: 'STANDARD_IA' },
  { id: 'cold', filter: { tags: { tier: 'cold' } }, drStorageClass: 'GLACIER_IR' },
];

function setup(rules: unknown[] | undefined) {
  const world = new MemoryWorld();
  world.bucket('source-bucket');
  const dr = world.bucket('dr-bucket', { versioned: true });
  const config = loadConfig({
    S3DR_SOURCE_BUCKETS: 'source-bucket',
    S3DR_SOURCE_REGION: 'eu-west-1',
    S3DR_DR_BUCKET: 'dr-bucket',
    S3DR_DR_REGION: 'eu-central-1',
    ...(rules ? { S3DR_RULES: JSON.stringify(rules) } : {}),
  });
  const deps = {
    dr,
    storeFor: (bucket: string) => world.bucket(bucket),
    clock: systemClock(60_000),
    settings: config,
    ...silentTelemetry(),
  };
  return { dr, deps };
}

describe('restore under replication rules', () => {
  it('reports the rule of every planned key; tags are read only where a tag rule may match', async () => {
    const { dr, deps } = setup(RULES);
    dr.put('archive/2019.tar', 'a', { storageClass: 'STANDARD_IA' });
    dr.put('photos/cold.jpg', 'b', { tags: { tier: 'cold' }, storageClass: 'GLACIER_IR' });
    dr.put('photos/warm.jpg', 'c');
    const report = await restoreObjects(parseRestorePayload({ prefix: '' }), deps);
    expect(report.rules).toEqual({
      byRule: {
        archive: { objects: 1, sample: ['archive/2019.tar'] },
        cold: { objects: 1, sample: ['photos/cold.jpg'] },
        '(default)': { objects: 1, sample: ['photos/warm.jpg'] },
      },
      undecided: 0,
      taggingRequests: 2,
    });
  });

  it('reports nothing about rules when the stage has none', async () => {
    const { dr, deps } = setup(undefined);
    dr.put('a.txt', 'a');
    const report = await restoreObjects(parseRestorePayload({ prefix: '' }), deps);
    expect(report.rules).toBeUndefined();
  });
});
