import { RESERVED_PREFIX } from '../core/config.ts';
import { InvalidPayloadError } from '../core/errors.ts';
import { MAX_KEY_BYTES } from '../core/key-mapping.ts';
import { bucketName, region } from '../core/names.ts';
import { THAW_TIERS } from '../core/storage-classes.ts';
import * as z from '../core/zod.ts';
import { zodProblems } from '../core/zod-problems.ts';

/** A restore payload is not what `sls invoke -f restore` accepts; the message names every bad field. */
export class InvalidRestorePayloadError extends InvalidPayloadError {
  override name = 'InvalidRestorePayloadError';
}

export const OVERWRITE_MODES = ['never', 'ifDifferent', 'always'] as const;
/** At most this many keys in one `keys` list (an invoke payload must stay far below Lambda's 6 MB). */
export const MAX_KEYS_PER_REQUEST = 1000;

/** `.` and `..` path segments: harmless to S3, but a trap for every tool that maps keys to files. */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

function keyLike(what: 'key' | 'prefix', allowEmpty: boolean) {
  return z
    .string({
      error: `must be a string (${what === 'key' ? 'an object key' : 'a key prefix, "" for everything'})`,
    })
    .check(
      z.minLength(allowEmpty ? 0 : 1, 'must not be empty'),
      z.refine(
        (k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES,
        `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`,
      ),
      z.refine((k) => !DOT_SEGMENT.test(k), 'must not contain "." or ".." path segments (such as "../")'),
      z.refine(
        (k) => !k.startsWith(RESERVED_PREFIX),
        `must not start with ${RESERVED_PREFIX} (s3-dr's own state)`,
      ),
    );
}

const boolean = (dflt: boolean) =>
  z._default(z.boolean({ error: 'must be true or false (a JSON boolean, not a string)' }), dflt);

const targetSchema = z.strictObject(
  {
    bucket: bucketName,
    prefix: z._default(keyLike('prefix', true), ''),
    region: z.optional(region),
  },
  { error: 'must be an object: { "bucket": "...", "prefix"?: "...", "region"?: "..." }' },
);

/**
 * The `sls invoke -f restore` payload. Everything is optional except the choice of `keys` or `prefix`,
 * and the defaults are the safe ones: a dry run, into the source bucket, overwriting only what differs.
 */
export const restorePayloadSchema = z
  .strictObject(
    {
      /** Which protected bucket; optional when the stage protects exactly one. */
      source: z.optional(bucketName),
      keys: z.optional(
        z
          .array(keyLike('key', false), { error: 'must be a list of object keys' })
          .check(
            z.minLength(1, 'must name at least one key'),
            z.maxLength(
              MAX_KEYS_PER_REQUEST,
              `must name at most ${MAX_KEYS_PER_REQUEST} keys (use prefix for more)`,
            ),
          ),
      ),
      prefix: z.optional(keyLike('prefix', true)),
      /** Restore each key's newest DR version at or before this time. */
      asOf: z.optional(
        z
          .pipe(
            z.string({ error: 'must be an ISO 8601 date-time string such as 2026-11-24T18:00:00Z' }),
            z.iso.datetime({
              offset: true,
              error: 'must be an ISO 8601 date-time with a time zone, such as 2026-11-24T18:00:00Z',
            }),
          )
          .check(z.refine((s) => isRealDate(s), 'is not a real date and time (check month, day and hour)')),
      ),
      includeDeleted: boolean(true),
      target: z.optional(targetSchema),
      overwrite: z._default(
        z.enum(OVERWRITE_MODES, { error: `must be one of ${OVERWRITE_MODES.join(', ')}` }),
        'ifDifferent',
      ),
      dryRun: boolean(true),
      maxObjects: z.optional(
        z
          .number({ error: 'must be a whole number' })
          .check(
            z.int('must be a whole number'),
            z.gte(1, 'must be at least 1'),
            z.lte(10_000_000, 'must be at most 10000000'),
          ),
      ),
      cursor: z.optional(
        z
          .string({ error: 'must be the cursor string a previous restore returned' })
          .check(z.minLength(1), z.maxLength(8192)),
      ),
      /** Retrieval tier for archived (GLACIER / DEEP_ARCHIVE) DR copies. */
      thawTier: z._default(
        z.enum(THAW_TIERS, { error: `must be one of ${THAW_TIERS.join(', ')}` }),
        'Standard',
      ),
      /** Days a thawed copy stays readable; the restore must be rerun within them. */
      thawDays: z._default(
        z
          .number({ error: 'must be a whole number of days' })
          .check(
            z.int('must be a whole number of days'),
            z.gte(1, 'must be at least 1 day'),
            z.lte(30, 'must be at most 30 days'),
          ),
        7,
      ),
    },
    { error: 'must be a JSON object' },
  )
  .check(
    z.superRefine((p, ctx) => {
      if (p.keys !== undefined && p.prefix !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys'],
          message: 'and prefix are both set; give one of them',
        });
      } else if (p.keys === undefined && p.prefix === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys'],
          message: 'or prefix is required: a list of keys, or a prefix ("" restores the whole bucket)',
        });
      }
    }),
  );

export type RestorePayload = z.infer<typeof restorePayloadSchema>;
export type OverwriteMode = (typeof OVERWRITE_MODES)[number];

/** True when the ISO string names a moment that exists (2026-02-30 does not). */
function isRealDate(iso: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
  if (!m) return false;
  const [, y, mo, d, h, mi] = m.map(Number) as [number, number, number, number, number, number];
  const probe = new Date(Date.UTC(y, mo - 1, d, h, mi));
  return (
    probe.getUTCFullYear() === y &&
    probe.getUTCMonth() === mo - 1 &&
    probe.getUTCDate() === d &&
    probe.getUTCHours() === h &&
    !Number.isNaN(Date.parse(iso))
  );
}

const FIELDS = Object.keys(restorePayloadSchema.shape);
const TARGET_FIELDS = Object.keys(targetSchema.shape);

/**
 * Parses an invoke payload (an object, or its JSON text). On error the message names every bad field
 * and what it accepts, e.g. `asOf: must be an ISO 8601 date-time …; colour: is not a restore option`.
 * An `asOf` in the future is refused: it is almost always a typo, and "now" is what omitting it means.
 */
export function parseRestorePayload(input: unknown, now: Date = new Date()): RestorePayload {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new InvalidRestorePayloadError(
        `Invalid restore payload: not JSON (${(error as Error).message})`,
        {
          cause: error,
        },
      );
    }
  }
  const parsed = restorePayloadSchema.safeParse(value ?? {});
  const problems: string[] = [];
  if (!parsed.success) {
    problems.push(
      ...zodProblems(parsed.error, {
        unknownKey: (key, field) =>
          `${field ? `${field}.` : ''}${key}: is not a restore option (allowed: ${(field === 'target' ? TARGET_FIELDS : FIELDS).join(', ')})`,
      }),
    );
  } else if (parsed.data.asOf && Date.parse(parsed.data.asOf) > now.getTime() + 60_000) {
    problems.push(`asOf: is in the future (${parsed.data.asOf}); omit it to restore the newest versions`);
  }
  if (problems.length > 0 || !parsed.success) {
    throw new InvalidRestorePayloadError(`Invalid restore payload: ${problems.join('; ')}`);
  }
  return parsed.data;
}
