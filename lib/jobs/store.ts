import type { ObjectStore } from '../core/ports.ts';
import type * as z from '../core/zod.ts';
import {
  activeSchema,
  type ChainState,
  chainStateSchema,
  type JobRecord,
  jobKeys,
  jobRecordSchema,
  type PlanProgress,
  planProgressSchema,
  type ShardState,
  shardStateSchema,
} from './model.ts';

export interface Stored<T> {
  value: T;
  etag: string;
}

/**
 * A job's state in the DR bucket (layout: job-model.ts). Creations are conditional writes
 * (`If-None-Match: *`) and replacements of shared objects `If-Match: <ETag>`, so two workers, or a
 * worker and a cancel, never overwrite each other's step unseen (S3 User Guide, "How to prevent object
 * overwrites with conditional writes").
 */
export class JobStore {
  readonly dr: ObjectStore;

  constructor(dr: ObjectStore) {
    this.dr = dr;
  }

  private async read<T>(key: string, schema: z.ZodMiniType<T>): Promise<Stored<T> | undefined> {
    const text = await this.dr.readText(key);
    if (text === undefined) return undefined;
    return { value: schema.parse(JSON.parse(text.body)), etag: text.etag };
  }

  private write(key: string, value: unknown, condition?: { ifNoneMatch: '*' } | { ifMatch: string }) {
    const body = JSON.stringify(value);
    if (!condition) return this.dr.putText(key, body).then(() => true);
    return this.dr.putTextIf(key, body, condition);
  }

  active(key: string) {
    return this.read(key, activeSchema);
  }
  putActive(key: string, job: string, condition: { ifNoneMatch: '*' } | { ifMatch: string }) {
    return this.write(key, { v: 1, job }, condition);
  }

  job(id: string) {
    return this.read(jobKeys.job(id), jobRecordSchema);
  }
  putJob(record: JobRecord, condition?: { ifNoneMatch: '*' } | { ifMatch: string }) {
    return this.write(jobKeys.job(record.id), record, condition);
  }

  plan(id: string) {
    return this.read(jobKeys.plan(id), planProgressSchema);
  }
  putPlan(id: string, plan: PlanProgress, condition: { ifNoneMatch: '*' } | { ifMatch: string }) {
    return this.write(jobKeys.plan(id), plan, condition);
  }

  shard(id: string, n: number) {
    return this.read(jobKeys.shard(id, n), shardStateSchema);
  }
  putShard(id: string, shard: ShardState, condition?: { ifNoneMatch: '*' } | { ifMatch: string }) {
    return this.write(jobKeys.shard(id, shard.shard), shard, condition);
  }

  chain(id: string) {
    return this.read(jobKeys.chain(id), chainStateSchema);
  }
  putChain(id: string, chain: ChainState, condition: { ifNoneMatch: '*' } | { ifMatch: string }) {
    return this.write(jobKeys.chain(id), chain, condition);
  }

  /** Marks a shard finished (done, failed or cancelled): finishing counts these with a listing. */
  async markDone(id: string, n: number): Promise<void> {
    // A body, not an empty one: the SDK cannot tell an empty string from a stream of unknown length.
    await this.dr.putText(jobKeys.done(id, n), 'done', 'text/plain');
  }

  /** Finished shards: one ListObjectsV2 per 1,000, instead of a GET per shard. */
  async countDone(id: string): Promise<number> {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await this.dr.list({ prefix: jobKeys.donePrefix(id), token, maxKeys: 1000 });
      count += page.objects.length;
      token = page.nextToken;
    } while (token);
    return count;
  }

  async report(id: string): Promise<unknown | undefined> {
    const text = await this.dr.getText(jobKeys.report(id));
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  }
  putReport(id: string, report: unknown) {
    return this.write(jobKeys.report(id), report, { ifNoneMatch: '*' });
  }
}
