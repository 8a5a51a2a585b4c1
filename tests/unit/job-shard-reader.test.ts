/**
 * The first step every shard message of a sharded job takes, restore and verify alike
 * (lib/jobs/shard-reader.ts): the job and the shard it names, read from the DR bucket.
 */
import { describe, expect, it } from '@jest/globals';
import { ShardFailedError } from '../../lib/core/errors.ts';
import type { JobRecord } from '../../lib/jobs/model.ts';
import { readShardOfJob } from '../../lib/jobs/shard-reader.ts';
import { JobStore } from '../../lib/jobs/store.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { logWith } from '../helpers/telemetry.ts';

const ID = 'test.verify.20261201T100000000Z.0123456789ab';
const record: JobRecord = {
  v: 1,
  id: ID,
  kind: 'verify',
  stage: 'test',
  identity: 'identity',
  dryRun: false,
  request: {},
  state: 'active',
  context: {},
  createdAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:00.000Z',
};

function setup() {
  const store = new JobStore(new MemoryWorld().bucket('dr-bucket'));
  const shards = new Map<number, { n: number }>();
  const warnings: unknown[] = [];
  const deps = {
    store,
    readShard: async (_id: string, n: number) => {
      const value = shards.get(n);
      return value ? { value, etag: `etag-${n}` } : undefined;
    },
    logger: logWith({ warn: (message, ...fields) => void warnings.push({ message, ...fields[0] }) }),
  };
  return { store, shards, warnings, deps };
}

describe('reading the shard a job message names', () => {
  it('answers the job and the shard', async () => {
    const { store, shards, deps } = setup();
    await store.putJob(record);
    shards.set(2, { n: 2 });
    const read = await readShardOfJob(ID, 2, deps);
    expect(read?.job.value).toEqual(record);
    expect(read?.shard).toEqual({ value: { n: 2 }, etag: 'etag-2' });
  });

  it('reads the job and the shard at once: the shard read starts before the job read answers', async () => {
    const { store, shards, deps } = setup();
    await store.putJob(record);
    shards.set(2, { n: 2 });
    let shardRequested!: () => void;
    const shardRead = new Promise<void>((done) => {
      shardRequested = done;
    });
    // The job read answers only once the shard read was asked for: read one after the other, this
    // would never settle (jest's timeout would say so).
    const heldStore = Object.create(store) as JobStore;
    heldStore.job = async (id: string) => {
      await shardRead;
      return store.job(id);
    };
    const read = await readShardOfJob(ID, 2, {
      ...deps,
      store: heldStore,
      readShard: async (id, n) => {
        shardRequested();
        return deps.readShard(id, n);
      },
    });
    expect(read?.shard.etag).toBe('etag-2');
  });

  it('drops the message of a job that does not exist, saying so', async () => {
    const { deps, warnings } = setup();
    const read = await readShardOfJob(ID, 2, { ...deps, readShard: async () => undefined });
    expect(read).toBeUndefined();
    expect(warnings).toEqual([
      {
        message: 'a job message names a job that does not exist; dropped',
        action: 'job-shard',
        job: ID,
        shard: 2,
      },
    ]);
  });

  it('fails on a shard the job never recorded, naming both', async () => {
    const { store, deps } = setup();
    await store.putJob(record);
    const read = readShardOfJob(ID, 7, deps);
    await expect(read).rejects.toThrow(ShardFailedError);
    await expect(read).rejects.toThrow(`job ${ID} has no shard 7 recorded`);
  });
});
