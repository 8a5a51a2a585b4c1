import { createHash } from 'node:crypto';
import { RESERVED_PREFIX } from '../core/config.ts';
import { describeError } from '../core/errors.ts';
import type { ObjectStore } from '../core/ports.ts';
import * as z from '../core/zod.ts';
import { zodProblems } from '../core/zod-problems.ts';
import { workItemSchema } from './shards.ts';

/**
 * `unreplicable`: in the source, not in DR, and S3 cannot copy it as it is (archived, SSE-C) — reported
 * apart from `missing`, which is drift (docs/design.md, invariant 7).
 */
export const CLASSES = ['ok', 'missing', 'mismatched', 'orphaned', 'pending', 'unreplicable'] as const;
export type VerifyClass = (typeof CLASSES)[number];

const countsSchema = z.object({
  ok: z.number().check(z.int(), z.nonnegative()),
  missing: z.number().check(z.int(), z.nonnegative()),
  mismatched: z.number().check(z.int(), z.nonnegative()),
  orphaned: z.number().check(z.int(), z.nonnegative()),
  pending: z.number().check(z.int(), z.nonnegative()),
  // Absent from cursors written before the class existed: such a pass resumes with none counted.
  unreplicable: z._default(z.number().check(z.int(), z.nonnegative()), 0),
});
export type Counts = z.infer<typeof countsSchema>;

/** Counts of a run or pass that has classified nothing yet. */
export const zeroCounts = (): Counts => ({
  ok: 0,
  missing: 0,
  mismatched: 0,
  orphaned: 0,
  pending: 0,
  unreplicable: 0,
});

/** Adds `more` into `into` (a pass's running totals) and returns it. */
export function addCounts(into: Counts, more: Counts): Counts {
  for (const c of CLASSES) into[c] += more[c];
  return into;
}

/** What a pass covers: a cursor only resumes a run with the same scope. */
const scopeSchema = z.object({ prefix: z.string(), deep: z.number().check(z.gte(0), z.lte(1)) });
export type VerifyScope = z.infer<typeof scopeSchema>;

const passSchema = z.object({
  id: z.string(),
  startedAt: z.string(),
  completedAt: z.optional(z.string()),
  /** Runs that worked on this pass so far. */
  runs: z.number().check(z.int(), z.nonnegative()),
  counts: countsSchema,
  itemsDone: z.number().check(z.int(), z.nonnegative()),
  /** Nodes created so far (discovery budget). */
  nodes: z.number().check(z.int(), z.nonnegative()),
  /** ETag ledger pieces written so far (verify-ledger.ts); none means the next pass has none to read. */
  ledgerPieces: z.optional(z.number().check(z.int(), z.nonnegative())),
});
export type PassState = z.infer<typeof passSchema>;

/**
 * The verifier's cursor, one JSON object per source bucket and scope in the DR bucket. `work` holds the
 * unfinished work items with their resume positions; it is empty once the pass is complete, and the next
 * run then starts a new pass (the cursor "wraps").
 */
export const cursorSchema = z.object({
  version: z.literal(1),
  source: z.string(),
  scope: scopeSchema,
  pass: passSchema,
  work: z.array(workItemSchema),
  /** The last completed pass, for the report and for people reading the cursor. */
  lastCompleted: z.optional(passSchema),
});
export type VerifyCursor = z.infer<typeof cursorSchema>;

/**
 * Where the cursor of a source bucket lives: `.s3dr/verify/<bucket>.json` for the scheduled scope (whole
 * bucket, no deep checks); an ad-hoc scope (a prefix, deep mode) has its own, so it never disturbs the
 * scheduled pass.
 */
export function cursorKey(source: string, scope: VerifyScope, range?: KeyRange): string {
  if (range) {
    // A shard of a verify job: its own cursor (and ETag ledger beside it) per scope and key range, so
    // shards resume apart, and the same range of the next job finds its ledger.
    const id = createHash('sha256')
      .update(JSON.stringify([scope.prefix, scope.deep, range.after ?? null, range.through ?? null]))
      .digest('hex')
      .slice(0, 24);
    return `${RESERVED_PREFIX}verify/${source}/range-${id}.json`;
  }
  if (scope.prefix === '' && scope.deep === 0) return `${RESERVED_PREFIX}verify/${source}.json`;
  const id = createHash('sha256')
    .update(JSON.stringify([scope.prefix, scope.deep]))
    .digest('hex')
    .slice(0, 16);
  return `${RESERVED_PREFIX}verify/${source}/scope-${id}.json`;
}

/** A bounded part of a scope's key space (source keys): after `after` (exclusive) through `through`. */
export interface KeyRange {
  after?: string;
  through?: string;
}

export interface CursorLog {
  warn(message: string, extra: Record<string, unknown>): void;
}

/**
 * Reads the cursor. A cursor that is not valid JSON of this shape (hand-edited, from another version) is
 * not trusted: the pass starts over, and the reason is logged.
 */
export async function loadCursor(
  dr: ObjectStore,
  key: string,
  log: CursorLog,
): Promise<VerifyCursor | undefined> {
  const text = await dr.getText(key);
  if (text === undefined) return undefined;
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
    log.warn('verify cursor is not valid; starting a new pass', {
      bucket: dr.bucket,
      key,
      action: 'reset-cursor',
      reason: zodProblems(parsed.error).join('; '),
    });
  } catch (error) {
    log.warn('verify cursor is not JSON; starting a new pass', {
      bucket: dr.bucket,
      key,
      action: 'reset-cursor',
      reason: describeError(error).message,
    });
  }
  return undefined;
}

/** Writes the cursor (a small JSON object) to the DR bucket, replacing the previous one. */
export async function saveCursor(dr: ObjectStore, key: string, cursor: VerifyCursor): Promise<void> {
  await dr.putText(key, JSON.stringify(cursor));
}
