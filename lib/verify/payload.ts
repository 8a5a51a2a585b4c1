import type { Config } from '../core/config.ts';
import { InvalidPayloadError } from '../core/errors.ts';
import { MAX_KEY_BYTES } from '../core/key-mapping.ts';
import * as z from '../core/zod.ts';
import { zodProblems } from '../core/zod-problems.ts';

/** A verify payload is not what `sls invoke -f verify` accepts; the message names every bad field. */
export class InvalidVerifyPayloadError extends InvalidPayloadError {
  override name = 'InvalidVerifyPayloadError';
}

const boolean = (dflt: boolean) =>
  z._default(z.boolean({ error: 'must be true or false (a JSON boolean, not a string)' }), dflt);

const DEEP_VALUES = 'must be true, false, or a sample rate greater than 0 and at most 1';

/** The `sls invoke -f verify` / `npm run verify` payload; every field is optional. */
export const verifyPayloadSchema = z.strictObject(
  {
    /** Which protected bucket; omitted = every configured source bucket. */
    source: z.optional(z.string({ error: 'must be the name of a protected source bucket' })),
    /** Only keys starting with this (source key space). */
    prefix: z._default(
      z
        .string({ error: 'must be a string (a key prefix, "" for everything)' })
        .check(
          z.refine(
            (p) => Buffer.byteLength(p, 'utf8') <= MAX_KEY_BYTES,
            `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`,
          ),
        ),
      '',
    ),
    repair: boolean(true),
    /** Compare content too: true (every key), false, or the share of keys to sample (0–1). */
    deep: z._default(
      z.union([z.boolean(), z.number().check(z.gt(0, DEEP_VALUES), z.lte(1, DEEP_VALUES))], {
        error: DEEP_VALUES,
      }),
      false,
    ),
    graceSeconds: z.optional(
      z
        .number({ error: 'must be a whole number of seconds' })
        .check(
          z.int('must be a whole number of seconds'),
          z.gte(0, 'must be at least 0'),
          z.lte(7 * 86_400, 'must be at most 604800 (7 days)'),
        ),
    ),
  },
  { error: 'must be a JSON object' },
);

export type VerifyPayload = z.infer<typeof verifyPayloadSchema>;

/** A validated verify request. */
export interface VerifyRequest {
  sources: string[];
  prefix: string;
  repair: boolean;
  /** Deep-check sample rate, 0 (off) to 1 (every key). */
  deep: number;
  graceSeconds: number;
}

const FIELDS = Object.keys(verifyPayloadSchema.shape);

/** An EventBridge (CloudWatch Events) scheduled event: what the `schedule` trigger invokes verify with. */
export function isScheduledEvent(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const event = input as Record<string, unknown>;
  return event['detail-type'] === 'Scheduled Event' && event.source === 'aws.events';
}

/**
 * Parses what verify was invoked with: the schedule's event (the default run), nothing, or a payload
 * object (or its JSON text). Unknown fields are refused by name, and `source` must be a configured
 * source bucket, so a typo cannot silently verify something else.
 */
export function parseVerifyRequest(
  input: unknown,
  config: Pick<Config, 'sourceBuckets' | 'verifyGraceSeconds'>,
): VerifyRequest {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new InvalidVerifyPayloadError(`Invalid verify payload: not JSON (${(error as Error).message})`, {
        cause: error,
      });
    }
  }
  if (value === undefined || value === null || isScheduledEvent(value)) value = {};
  const parsed = verifyPayloadSchema.safeParse(value);
  const problems: string[] = [];
  if (!parsed.success) {
    problems.push(
      ...zodProblems(parsed.error, {
        unknownKey: (key) => `${key}: is not a verify option (allowed: ${FIELDS.join(', ')})`,
      }),
    );
  } else if (parsed.data.source !== undefined && !config.sourceBuckets.includes(parsed.data.source)) {
    problems.push(
      `source: ${JSON.stringify(parsed.data.source)} is not a protected source bucket (configured: ${config.sourceBuckets.join(', ')})`,
    );
  }
  if (!parsed.success || problems.length > 0) {
    throw new InvalidVerifyPayloadError(`Invalid verify payload: ${problems.join('; ')}`);
  }
  const p = parsed.data;
  return {
    sources: p.source === undefined ? [...config.sourceBuckets] : [p.source],
    prefix: p.prefix,
    repair: p.repair,
    deep: p.deep === true ? 1 : p.deep === false ? 0 : p.deep,
    graceSeconds: p.graceSeconds ?? config.verifyGraceSeconds,
  };
}
