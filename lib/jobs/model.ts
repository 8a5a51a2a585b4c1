/**
 * The state model of a job (docs/design.md, invariant 8: long work is a job). A job is a request that
 * plans and runs in the background, as shards on the job queue, with all its state in the DR bucket
 * under `.s3dr/jobs/<id>/` — so a restore job works with the source region down, and a person (or the
 * CLI) can poll it with nothing but the job id.
 *
 *   .s3dr/jobs/active/<kind>/<identity>.json   which job runs this request (created If-None-Match)
 *   .s3dr/jobs/<id>/job.json                   the request; active | failed | cancelled
 *   .s3dr/jobs/<id>/plan.json                  how far planning got: shards cut, objects and bytes planned
 *   .s3dr/jobs/<id>/shards/<n>.json            one shard: scope, checkpoint, tallies, worker lease
 *   .s3dr/jobs/<id>/done/<n>                   a marker per finished shard (a listing counts them)
 *   .s3dr/jobs/<id>/chain.json                 a chain of runs (verify): runs so far, what they found
 *   .s3dr/jobs/<id>/report.json                the final report, written once
 */
import { createHash } from 'node:crypto';
import { RESERVED_PREFIX } from '../core/config.ts';
import { InvalidPayloadError } from '../core/errors.ts';
import * as z from '../core/zod.ts';
import { zodProblems } from '../core/zod-problems.ts';

export const JOB_PREFIX = `${RESERVED_PREFIX}jobs/`;
export const JOB_KINDS = ['restore', 'verify'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Stored states; `running` becomes `complete` (or `failed`) when every shard is done. */
export const JOB_STATES = ['planning', 'running', 'complete', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: readonly JobState[] = ['complete', 'failed', 'cancelled'];

/** `<stage>.<kind>.<UTC start to the ms, compact>.<identity prefix>`: readable, sortable, names its stage. */
const JOB_ID = /^([A-Za-z0-9-]{1,64})\.(restore|verify)\.(\d{8}T\d{9}Z)\.([0-9a-f]{12})$/;

export function parseJobId(id: string): { stage: string; kind: string } | undefined {
  const m = JOB_ID.exec(id);
  return m ? { stage: m[1] as string, kind: m[2] as string } : undefined;
}

export function newJobId(stage: string, kind: JobKind, identity: string, now: Date): string {
  // To the millisecond: a finished job's request may start again at once, as a new job with a new id.
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stage}.${kind}.${stamp}.${identity.slice(0, 12)}`;
}

/** JSON with object keys sorted, so the same request always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * The identity of a job's request: the same normalized request (stage, kind, everything but `dryRun`)
 * always hashes the same, so two identical jobs meet at one `active/` object. `dryRun` is left out on
 * purpose: a real run and a dry run of the same request must not run at once either.
 */
export function jobIdentity(stage: string, kind: JobKind, request: Record<string, unknown>): string {
  const { dryRun: _ignored, ...rest } = request;
  return createHash('sha256')
    .update(canonicalJson({ stage, kind, request: rest }))
    .digest('hex');
}

export const jobKeys = {
  active: (kind: JobKind, identity: string) => `${JOB_PREFIX}active/${kind}/${identity.slice(0, 32)}.json`,
  job: (id: string) => `${JOB_PREFIX}${id}/job.json`,
  plan: (id: string) => `${JOB_PREFIX}${id}/plan.json`,
  shard: (id: string, n: number) => `${JOB_PREFIX}${id}/shards/${String(n).padStart(6, '0')}.json`,
  donePrefix: (id: string) => `${JOB_PREFIX}${id}/done/`,
  done: (id: string, n: number) => `${JOB_PREFIX}${id}/done/${String(n).padStart(6, '0')}`,
  chain: (id: string) => `${JOB_PREFIX}${id}/chain.json`,
  report: (id: string) => `${JOB_PREFIX}${id}/report.json`,
};

export const activeSchema = z.object({ v: z.literal(1), job: z.string() });

export const jobRecordSchema = z.object({
  v: z.literal(1),
  id: z.string(),
  kind: z.enum(JOB_KINDS),
  stage: z.string(),
  identity: z.string(),
  dryRun: z.boolean(),
  /** The request after validation and defaults, as the worker runs it. */
  request: z.record(z.string(), z.unknown()),
  /** `active` until cancelled or failed as a whole; planning / running / complete are derived. */
  state: z.enum(['active', 'failed', 'cancelled']),
  /** Where the job reads and writes, resolved at start (for the report). */
  context: z.record(z.string(), z.unknown()),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  error: z.optional(z.string()),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

export const planProgressSchema = z.object({
  v: z.literal(1),
  /** Planning steps done; a redelivered message of an earlier step is a no-op. */
  step: z.number().check(z.int(), z.nonnegative()),
  /** The last source key planned (exclusive start of the next step). */
  after: z.optional(z.string()),
  shards: z.number().check(z.int(), z.nonnegative()),
  objects: z.number().check(z.int(), z.nonnegative()),
  bytes: z.number().check(z.nonnegative()),
  done: z.boolean(),
});
export type PlanProgress = z.infer<typeof planProgressSchema>;

const tallySchema = z.object({ objects: z.number(), bytes: z.number(), sample: z.array(z.string()) });

export const shardStateSchema = z.object({
  v: z.literal(1),
  shard: z.number().check(z.int(), z.nonnegative()),
  /** A key range (after, through] of source keys, or an explicit list of keys. */
  scope: z.union([
    z.object({ after: z.optional(z.string()), through: z.string() }),
    z.object({ keys: z.array(z.string()) }),
  ]),
  objects: z.number().check(z.int(), z.nonnegative()),
  bytes: z.number().check(z.nonnegative()),
  state: z.enum(['pending', 'running', 'done', 'failed', 'cancelled']),
  /** Checkpoint: every key up to and including this one is handled. */
  cursor: z.optional(z.string()),
  /** A worker holds the shard until then (its Lambda deadline); another receive of it waits. */
  lease: z.optional(z.object({ owner: z.string(), until: z.iso.datetime() })),
  attempts: z.number().check(z.int(), z.nonnegative()),
  examined: z.number().check(z.int(), z.nonnegative()),
  plan: z.record(z.string(), tallySchema),
  results: z.object({ restored: tallySchema, thawing: tallySchema, failed: tallySchema }),
  failures: z.array(z.object({ key: z.string(), error: z.string() })),
  thawing: z.array(z.record(z.string(), z.unknown())),
  warnings: z.array(z.string()),
  error: z.optional(z.string()),
  updatedAt: z.iso.datetime(),
});
export type ShardState = z.infer<typeof shardStateSchema>;

/**
 * A job that runs as a chain of time-boxed runs (verify: each run resumes the pass where the last one
 * stopped) keeps how far the chain got here. `runs` counts the runs recorded: message `run: n` is the
 * (n+1)th run, so a redelivered message of a run already recorded is a no-op. `data` is the kind's own
 * accumulation of what its runs found.
 */
export const chainStateSchema = z.object({
  v: z.literal(1),
  runs: z.number().check(z.int(), z.nonnegative()),
  /** The highest run whose message was sent: a redelivery of an older run re-sends the next one only below it. */
  queued: z.number().check(z.int(), z.nonnegative()),
  done: z.boolean(),
  data: z.record(z.string(), z.unknown()),
  updatedAt: z.iso.datetime(),
});
export type ChainState = z.infer<typeof chainStateSchema>;

export const jobMessageSchema = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('plan'), job: z.string(), step: z.number().check(z.int()) }),
  z.object({
    v: z.literal(1),
    kind: z.literal('shard'),
    job: z.string(),
    shard: z.number().check(z.int()),
    /** Verify shards: which run of the shard this is (a redelivery of a recorded run is a no-op). */
    run: z.optional(z.number().check(z.int(), z.nonnegative())),
  }),
  z.object({
    v: z.literal(1),
    kind: z.literal('run'),
    job: z.string(),
    run: z.number().check(z.int(), z.nonnegative()),
  }),
]);
export type JobMessage = z.infer<typeof jobMessageSchema>;

/**
 * The job queue: plan steps and shards of restore and verify jobs (the job id names the kind), drained by
 * the job worker. `run` messages are an earlier version's verify chain: the worker ends their job.
 */
export interface JobQueue {
  /** Sends the messages (10 per request), retrying entries that fail; throws if some still fail. */
  send(messages: JobMessage[]): Promise<void>;
}

/** What `sls invoke -f restore --data '{"job":"…"}'` answers. */
export interface JobStatus {
  job: string;
  kind: JobKind;
  state: JobState;
  dryRun: boolean;
  createdAt: string;
  /** Verify: shard runs so far (a shard runs again, from its cursor, after each time box). */
  runs?: number;
  /** Set on a start that found the identical job already running: this is that job. */
  alreadyRunning?: boolean;
  planning: { done: boolean; shards: number };
  shards: { planned: number; done: number; failed: number; cancelled: number };
  /** Objects and bytes examined so far, and in scope (known once planning is done; a floor before). */
  progress: { objects: number; bytes: number; objectsPlanned: number; bytesPlanned: number };
  /** Objects by outcome: planned actions, and (real runs) restored / thawing / failed. */
  counts: Record<string, number>;
  /** Objects per second since the job started, and seconds left at that rate (null when unknown). */
  rate: number;
  etaSeconds: number | null;
  failedShards: { shard: number; error: string }[];
  error?: string;
  /** The final report once the job is complete or failed (the synchronous run's report, summed). */
  report?: unknown;
  summary: string;
}

/** `{"job": "<id>"}` (status) or `{"job": "<id>", "cancel": true}`: a request about a job, not a new one. */
export const jobControlSchema = z.strictObject(
  {
    job: z
      .string({ error: 'must be a job id (a string), as a start returned it' })
      .check(z.minLength(1), z.maxLength(200)),
    cancel: z._default(z.boolean({ error: 'must be true or false' }), false),
  },
  { error: 'must be a JSON object' },
);
export type JobControl = z.infer<typeof jobControlSchema>;

/**
 * A request about an existing job (any payload with a `job` field), or undefined for anything else.
 *
 * @throws InvalidPayloadError naming the bad field, e.g. `cancel` as a string or a restore option beside `job`.
 */
export function parseJobControl(input: unknown): JobControl | undefined {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return undefined; // not JSON: the restore or verify payload parser names the problem
    }
  }
  if (value === null || typeof value !== 'object' || !('job' in value)) return undefined;
  const parsed = jobControlSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = zodProblems(parsed.error, {
    root: 'payload',
    unknownKey: (key) => `${key}: not allowed beside "job" (a job request takes only job and cancel)`,
  });
  throw new InvalidJobRequestError(`Invalid job request: ${problems.join('; ')}`);
}

export class InvalidJobRequestError extends InvalidPayloadError {
  override name = 'InvalidJobRequestError';
}
