import { InvalidPayloadError } from './errors.ts';
import { MAX_KEY_BYTES } from './key-mapping.ts';
import * as z from './zod.ts';
import { zodProblems } from './zod-problems.ts';

/**
 * One unit of replication work: "make the DR copy of this key match the source". Tasks are hints, not
 * commands (docs/design.md, invariant 1): the replicate path re-reads both sides, so duplicates, reordering and
 * loss are harmless. The body is compact JSON so a batch of ten stays far below SQS's 256 KiB.
 */
export const taskSchema = z.strictObject({
  v: z.literal(1),
  bucket: z.string().check(z.minLength(3), z.maxLength(63)),
  key: z.string().check(
    z.minLength(1, 'key must not be empty'),
    z.refine(
      (k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES,
      `key must be at most ${MAX_KEY_BYTES} UTF-8 bytes`,
    ),
  ),
  /** S3 event name without the `s3:` prefix, e.g. `ObjectCreated:Put`, or `Verify:Repair`. */
  eventName: z.string().check(z.minLength(1), z.maxLength(64)),
  eventTime: z.iso.datetime({ offset: true }),
  sequencer: z.optional(z.string().check(z.maxLength(64))),
  versionId: z.optional(z.string().check(z.maxLength(1024))),
  size: z.optional(z.number().check(z.int(), z.nonnegative())),
  etag: z.optional(z.string().check(z.maxLength(128))),
  /**
   * Set by the verifier's deep mode: the DR copy that had this ETag was found to differ from the source
   * in content although its recorded source ETag matched. Replicate rewrites a DR copy that still has
   * this ETag instead of trusting the recorded one; once rewritten, the task is an ordinary hint again.
   */
  drEtag: z.optional(z.string().check(z.maxLength(128))),
});

export type Task = z.infer<typeof taskSchema>;

/** Parses an SQS body into a task; the error names the fields that are wrong. */
export function parseTask(body: string): Task {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidTaskBodyError(`message body is not JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  const parsed = taskSchema.safeParse(json);
  if (!parsed.success) {
    const detail = zodProblems(parsed.error, { root: 'body' }).join('; ');
    throw new InvalidTaskBodyError(`message body is not a replication task: ${detail}`);
  }
  return parsed.data;
}

export class InvalidTaskBodyError extends InvalidPayloadError {
  override name = 'InvalidTaskBodyError';
}

/** Normalises an S3 ETag: S3 returns it quoted in headers and unquoted in notifications. */
export function normaliseEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^"|"$/g, '').replace(/^W\//, '');
}

/** True for an ETag of a multipart upload (`<md5-of-md5s>-<parts>`). */
export function multipartPartsOf(etag: string | undefined): number | undefined {
  const m = etag ? /-(\d+)$/.exec(normaliseEtag(etag) ?? '') : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Serialises a task as an SQS message body. SQS rejects bodies with characters outside #x9 #xA #xD
 * #x20–#xD7FF #xE000–#xFFFD (#x10000+ on AWS, but not on every emulator), while S3 keys may hold any
 * UTF-8, control characters included. Everything outside printable ASCII is therefore written as a
 * JSON `\uXXXX` escape: the body is plain ASCII and `JSON.parse` restores the key exactly.
 */
export function encodeTaskBody(task: Task): string {
  return JSON.stringify(task).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
