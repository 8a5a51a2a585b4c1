/**
 * The first step of every sharded job's shard message (restore and verify): the job and the shard it
 * names, read from the DR bucket. A message whose job is gone (its state deleted by hand, or another
 * stage's bucket) is dropped with a warning — nothing could ever run it (its shard was read alongside, for nothing); a shard the job never recorded
 * is an error, so the message is tried again and ends in the job DLQ, visible (docs/design.md,
 * invariant 3).
 */
import { ShardFailedError } from '../core/errors.ts';
import type { Log } from '../core/telemetry.ts';
import type { JobRecord } from './model.ts';
import type { JobStore, Stored } from './store.ts';

/** How a kind reads one of its shards (its own shape, under the job's `shards/`). */
export type ShardRead<S> = (id: string, n: number) => Promise<Stored<S> | undefined>;

/**
 * The job and shard a shard message names; `undefined` (logged) when the job does not exist.
 *
 * @throws ShardFailedError when the job has no such shard recorded.
 */
export async function readShardOfJob<S>(
  id: string,
  n: number,
  deps: { store: JobStore; readShard: ShardRead<S>; logger: Pick<Log, 'warn'> },
): Promise<{ job: Stored<JobRecord>; shard: Stored<S> } | undefined> {
  // Both reads at once: with S3 answering in tens of ms, each round trip a shard waits on is time none
  // of its work runs (docs/performance.md#restore-jobs).
  const [job, shard] = await Promise.all([deps.store.job(id), deps.readShard(id, n)]);
  if (!job) {
    deps.logger.warn('a job message names a job that does not exist; dropped', {
      action: 'job-shard',
      job: id,
      shard: n,
    });
    return undefined;
  }
  if (!shard) throw new ShardFailedError(`job ${id} has no shard ${n} recorded`);
  return { job, shard };
}
