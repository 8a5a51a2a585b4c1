import { ConfigError } from './errors.ts';
import { bucketName, region } from './names.ts';
import { parseRulesJson, type ReplicationRule, rulesNeedTags } from './replication-rules.ts';
import { STORAGE_CLASSES } from './storage-classes.ts';
import * as z from './zod.ts';
import { zodProblems } from './zod-problems.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's documented bounds for one part of a multipart upload. */
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * GiB;
/** The reserved key prefix in the DR bucket for s3-dr's own state (cursors, reports). */
export const RESERVED_PREFIX = '.s3dr/';

const list = (item: z.ZodMiniString<string>) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0),
      ),
    ),
    z.array(item),
  );
/** A whole number from a variable's text, within bounds (`messages` word them; zod's own by default). */
const whole = (min: number, max?: number, messages: { int?: string; min?: string; max?: string } = {}) =>
  z.coerce
    .number()
    .check(
      z.int(messages.int),
      z.minimum(min, messages.min),
      ...(max === undefined ? [] : [z.maximum(max, messages.max)]),
    );
const bytes = (min: number, max: number, dflt: number) =>
  z._default(
    whole(min, max, {
      int: 'must be a whole number of bytes',
      min: `must be at least ${min} bytes`,
      max: `must be at most ${max} bytes`,
    }),
    dflt,
  );
const count = (min: number, max: number | undefined, dflt: number) => z._default(whole(min, max), dflt);
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, dflt: T[number]) =>
  z._default(z.enum(values), dflt);
const bool = (dflt: boolean) =>
  z.pipe(
    z._default(
      z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }),
      dflt ? 'true' : 'false',
    ),
    z.transform((v) => v === 'true' || v === '1'),
  );

// Kept in their own module so replication-rules.ts (also loaded by the deployment resolver) needs no config.
export { STORAGE_CLASSES } from './storage-classes.ts';

/** Environment variables, by name: the error a user sees names these. */
const envSchema = z
  .object({
    S3DR_SOURCE_BUCKETS: list(bucketName).check(
      z.refine((b) => b.length > 0, 'must name at least one bucket'),
    ),
    S3DR_SOURCE_REGION: region,
    S3DR_DR_BUCKET: bucketName,
    S3DR_DR_REGION: region,
    S3DR_QUEUE_URL: z.optional(z.url('must be the replication queue URL')),
    /** The stage name: a job id names its stage, so one stage never acts on another's job. */
    S3DR_STAGE: z._default(
      z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a stage name (letters, digits, -)')),
      'default',
    ),
    S3DR_JOB_QUEUE_URL: z.optional(z.url('must be the job queue URL')),
    S3DR_JOB_SHARD_KEYS: count(1, 1_000_000, 5000),
    S3DR_JOB_MAX_RECEIVE_COUNT: count(1, 1000, 5),
    S3DR_VERIFY_SHARD_KEYS: count(1, 10_000_000, 100_000),
    S3DR_DELETE_POLICY: oneOf(['mirror', 'retain'], 'mirror'),
    S3DR_KEY_LAYOUT: oneOf(['flat', 'bucket-prefixed'], 'flat'),
    S3DR_DR_STORAGE_CLASS: oneOf(STORAGE_CLASSES, 'STANDARD'),
    S3DR_DR_KMS_KEY_ID: z.optional(z.string().check(z.minLength(1))),
    S3DR_DR_BUCKET_OWNER: z.optional(
      z.string().check(z.regex(/^\d{12}$/, 'must be the 12-digit id of the account that owns the DR bucket')),
    ),
    S3DR_MULTIPART_THRESHOLD: bytes(MIN_PART_BYTES, MAX_PART_BYTES, MAX_PART_BYTES),
    S3DR_PART_SIZE: bytes(MIN_PART_BYTES, MAX_PART_BYTES, 256 * MiB),
    S3DR_PART_CONCURRENCY: count(1, 64, 8),
    S3DR_COPY_TAGS: bool(true),
    S3DR_RESTORE_TARGETS: z._default(list(bucketName), []),
    S3DR_RESTORE_TARGET_REGION: z.optional(region),
    S3DR_RESTORE_CONCURRENCY: count(1, 128, 32),
    S3DR_VERIFY_GRACE_SECONDS: count(0, undefined, 900),
    S3DR_VERIFY_CONCURRENCY: count(1, 64, 8),
    S3DR_STACK_ROLE: oneOf(['primary', 'dr'], 'primary'),
    S3DR_ENDPOINT_URL: z.optional(z.url()),
    S3DR_FORCE_PATH_STYLE: bool(false),
    S3DR_MAX_ATTEMPTS: count(1, 20, 6),
    S3DR_RETRY_MODE: oneOf(['standard', 'adaptive'], 'standard'),
    S3DR_REQUEST_TIMEOUT_MS: count(100, undefined, 30_000),
    S3DR_SAFETY_MARGIN_MS: count(0, undefined, 10_000),
    S3DR_THAW_ARCHIVED_SOURCES: bool(false),
    S3DR_THAW_DAYS: count(1, 30, 1),
    S3DR_THAW_TIER: oneOf(['Bulk', 'Standard', 'Expedited'], 'Bulk'),
    // Replication rules (lib/core/replication-rules.ts): a JSON list; unset or empty = every key by the defaults.
    S3DR_RULES: z.pipe(
      z.optional(z.string()),
      z.transform((text, ctx) => {
        const parsed = parseRulesJson(text);
        if (parsed.ok) return parsed.rules;
        for (const problem of parsed.problems)
          ctx.issues.push({ code: 'custom', message: problem, input: text });
        return z.NEVER;
      }),
    ),
  })
  .check(
    z.superRefine((env, ctx) => {
      if (env.S3DR_KEY_LAYOUT === 'flat' && env.S3DR_SOURCE_BUCKETS.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['S3DR_KEY_LAYOUT'],
          message:
            'is "flat", which maps keys 1:1 and so allows only one source bucket; use "bucket-prefixed"',
        });
      }
      if (env.S3DR_SOURCE_BUCKETS.includes(env.S3DR_DR_BUCKET)) {
        ctx.addIssue({
          code: 'custom',
          path: ['S3DR_DR_BUCKET'],
          message: 'is also listed in S3DR_SOURCE_BUCKETS; replicating a bucket into itself would loop',
        });
      }
      // A tag rule is decided from the tags the DR copy carries once the source is gone (deletes, verify's
      // orphans), and a key moves between rules only through s3:ObjectTagging events: both need copyTags.
      if (rulesNeedTags(env.S3DR_RULES) && !env.S3DR_COPY_TAGS) {
        ctx.addIssue({
          code: 'custom',
          path: ['S3DR_RULES'],
          message:
            'has rules that filter by tags, which need S3DR_COPY_TAGS=true (tag changes move keys between rules)',
        });
      }
    }),
  );

/** The names of every variable the functions read. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/**
 * Checks one variable's value against the functions' schema, on its own (for tools that let a person
 * override a few settings from the shell). Returns the problem, or undefined when the value is good.
 */
export function configVariableProblem(name: string, value: string): string | undefined {
  const field = (envSchema.shape as Record<string, z.ZodMiniType>)[name];
  if (!field) return `${name} is not an s3-dr setting`;
  const parsed = field.safeParse(value);
  if (parsed.success) return undefined;
  const [first] = zodProblems(parsed.error, {
    root: name,
    separator: ' ',
    message: (issue) => `is ${JSON.stringify(value)}: ${issue.message}`,
  });
  return first;
}

export interface Config {
  sourceBuckets: string[];
  sourceRegion: string;
  drBucket: string;
  drRegion: string;
  queueUrl: string | undefined;
  stage: string;
  /** The work queue of restore and verify jobs (both stacks have one: restore runs in the DR region). */
  jobQueueUrl: string | undefined;
  /** Keys per job shard: one shard is the unit a worker claims, checkpoints and retries. */
  jobShardKeys: number;
  /** The job queue's maxReceiveCount: the attempt that reaches it records the shard as failed. */
  jobMaxReceiveCount: number;
  /**
   * Source keys per verify job shard: a verify pass lists (cheap per key), so its shards are larger than
   * a restore's; each is verified by one worker at a time and resumes from its own cursor.
   */
  verifyShardKeys: number;
  deletePolicy: 'mirror' | 'retain';
  keyLayout: 'flat' | 'bucket-prefixed';
  drStorageClass: (typeof STORAGE_CLASSES)[number];
  drKmsKeyId: string | undefined;
  /** Account id every DR request names as ExpectedBucketOwner; unset = no owner check (emulator). */
  drBucketOwner: string | undefined;
  multipartThreshold: number;
  partSize: number;
  partConcurrency: number;
  copyTags: boolean;
  restoreTargets: string[];
  /** Region of the restore-target buckets; unset = the region this stack runs in (see stackRole). */
  restoreTargetRegion: string | undefined;
  /** Keys a restore plans and copies at once. */
  restoreConcurrency: number;
  verifyGraceSeconds: number;
  verifyConcurrency: number;
  stackRole: 'primary' | 'dr';
  endpointUrl: string | undefined;
  forcePathStyle: boolean;
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
  requestTimeoutMs: number;
  /** Time kept in reserve before a Lambda deadline to stop cleanly. */
  safetyMarginMs: number;
  /**
   * Opt-in: replicate starts a restore (RestoreObject) of an archived source object and copies it when
   * `s3:ObjectRestore:Completed` arrives, instead of only reporting it unreplicable.
   */
  thawArchivedSources: boolean;
  /** Days a restored GLACIER/DEEP_ARCHIVE source copy stays readable (S3 rounds up to the next midnight UTC). */
  thawDays: number;
  /** Retrieval tier of those restores (Bulk: cheapest; Expedited falls back to Standard where S3 lacks it). */
  thawTier: 'Bulk' | 'Standard' | 'Expedited';
  /** Replication rules, first match wins; empty = every key follows the settings above. */
  rules: ReplicationRule[];
}

/**
 * Reads and validates the configuration once, at cold start. On error the message names every bad
 * variable and what it must be, so a misconfigured stage fails loudly before any event is touched.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env, { reportInput: true });
  if (!parsed.success) {
    const problems = zodProblems(parsed.error, {
      root: 'environment',
      separator: ' ',
      message: (issue, name) => {
        if (issue.code === 'custom') return issue.message;
        // A variable's own text (before coercion), or else the value the issue is about (reportInput):
        // one item of a list variable (S3DR_SOURCE_BUCKETS.1), which is no variable of its own.
        const value = env[name] ?? issue.input;
        return `${value === undefined ? 'is not set' : `is ${JSON.stringify(value)}`}: ${issue.message}`;
      },
    });
    throw new ConfigError(`Invalid s3-dr configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    sourceBuckets: e.S3DR_SOURCE_BUCKETS,
    sourceRegion: e.S3DR_SOURCE_REGION,
    drBucket: e.S3DR_DR_BUCKET,
    drRegion: e.S3DR_DR_REGION,
    queueUrl: e.S3DR_QUEUE_URL,
    stage: e.S3DR_STAGE,
    jobQueueUrl: e.S3DR_JOB_QUEUE_URL,
    jobShardKeys: e.S3DR_JOB_SHARD_KEYS,
    jobMaxReceiveCount: e.S3DR_JOB_MAX_RECEIVE_COUNT,
    verifyShardKeys: e.S3DR_VERIFY_SHARD_KEYS,
    deletePolicy: e.S3DR_DELETE_POLICY,
    keyLayout: e.S3DR_KEY_LAYOUT,
    drStorageClass: e.S3DR_DR_STORAGE_CLASS,
    drKmsKeyId: e.S3DR_DR_KMS_KEY_ID,
    drBucketOwner: e.S3DR_DR_BUCKET_OWNER,
    multipartThreshold: e.S3DR_MULTIPART_THRESHOLD,
    partSize: e.S3DR_PART_SIZE,
    partConcurrency: e.S3DR_PART_CONCURRENCY,
    copyTags: e.S3DR_COPY_TAGS,
    restoreTargets: e.S3DR_RESTORE_TARGETS,
    restoreTargetRegion: e.S3DR_RESTORE_TARGET_REGION,
    restoreConcurrency: e.S3DR_RESTORE_CONCURRENCY,
    verifyGraceSeconds: e.S3DR_VERIFY_GRACE_SECONDS,
    verifyConcurrency: e.S3DR_VERIFY_CONCURRENCY,
    stackRole: e.S3DR_STACK_ROLE,
    endpointUrl: e.S3DR_ENDPOINT_URL,
    forcePathStyle: e.S3DR_FORCE_PATH_STYLE,
    maxAttempts: e.S3DR_MAX_ATTEMPTS,
    retryMode: e.S3DR_RETRY_MODE,
    requestTimeoutMs: e.S3DR_REQUEST_TIMEOUT_MS,
    safetyMarginMs: e.S3DR_SAFETY_MARGIN_MS,
    thawArchivedSources: e.S3DR_THAW_ARCHIVED_SOURCES,
    thawDays: e.S3DR_THAW_DAYS,
    thawTier: e.S3DR_THAW_TIER,
    rules: e.S3DR_RULES,
  };
}

/** The queue URL, required by the functions that enqueue (ingest, verify with repair). */
export function requireQueueUrl(config: Config): string {
  if (!config.queueUrl) throw new ConfigError('Invalid s3-dr configuration: S3DR_QUEUE_URL is not set');
  return config.queueUrl;
}

/** The job queue URL, required by the functions that start or run jobs (restore, verify, job worker). */
export function requireJobQueueUrl(config: Config): string {
  if (!config.jobQueueUrl) {
    throw new ConfigError('Invalid s3-dr configuration: S3DR_JOB_QUEUE_URL is not set');
  }
  return config.jobQueueUrl;
}
