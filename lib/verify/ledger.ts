/**
 * The verifier's ETag ledger: for each shard, the sorted (key, source ETag, DR ETag) pairs it confirmed in
 * a pass where the two ETags differ by construction (SSE-KMS / DSSE-KMS, another part layout). The next
 * pass trusts a pair that matches both listed ETags without a request; any other differing pair costs a
 * HEAD (and, where the DR copy records nothing, two GetObjectAttributes) once, and goes into the new ledger.
 *
 * Memory stays independent of the bucket's size: a shard's ledger is a sequence of small JSON pieces
 * (at most {@link LEDGER_PIECE} pairs each), read one piece at a time while the shard's merge-join moves
 * forward in key order, and written one piece at a time behind it. Pieces of the previous pass are
 * deleted once read past. Everything lives under the reserved DR prefix next to the cursor
 * (`.s3dr/verify/<source>/ledger/<pass id>/<shard id>/<piece>.json`), like all verifier state
 * (docs/design.md, invariant 8).
 */
import { createHash } from 'node:crypto';
import { describeError } from '../core/errors.ts';
import { compareKeys } from '../core/key-order.ts';
import type { ObjectStore } from '../core/ports.ts';
import * as z from '../core/zod.ts';
import type { WorkItem } from './shards.ts';

/** Pairs per piece: one small object (about 100 KB for typical keys) read or written whole. */
export const LEDGER_PIECE = 1000;

const pieceSchema = z.object({
  v: z.literal(1),
  pairs: z.array(z.tuple([z.string(), z.string(), z.string()])),
});
type Pair = [key: string, sourceEtag: string, drEtag: string];

/** Where a shard resumes reading the previous ledger and writing the new one. */
export const ledgerPositionSchema = z.object({
  read: z.number().check(z.int(), z.nonnegative()),
  write: z.number().check(z.int(), z.nonnegative()),
});
export type LedgerPosition = z.infer<typeof ledgerPositionSchema>;

/** A shard's identity across passes: the item without its progress. */
export function shardId(item: WorkItem): string {
  const { after: _a, ledger: _l, ...rest } = item;
  const identity = rest.kind === 'node' ? { ...rest, collector: undefined } : rest;
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 20);
}

/** The folder of a pass's ledger, next to the cursor at `cursorKey` (`….json`). */
export function ledgerFolder(cursorKey: string, passId: string): string {
  return `${cursorKey.replace(/\.json$/, '')}/ledger/${passId}/`;
}

const pieceKey = (base: string, n: number) => `${base}${String(n).padStart(6, '0')}.json`;

export interface LedgerLog {
  warn(message: string, extra: Record<string, unknown>): void;
}

/** Reads one shard's ledger of the previous pass as a sorted stream; lookups must come in key order. */
export class LedgerReader {
  private readonly store: ObjectStore;
  private readonly base: string | undefined;
  private readonly log: LedgerLog;
  private piece: number;
  private pairs: Pair[] | undefined;
  private index = 0;
  private ended: boolean;

  /** `base` undefined: there is no previous ledger (first pass), every lookup misses. */
  constructor(store: ObjectStore, base: string | undefined, piece: number, log: LedgerLog) {
    this.store = store;
    this.base = base;
    this.piece = piece;
    this.log = log;
    this.ended = base === undefined;
  }

  /** The piece to resume from: the one being read (its keys before the resume point are skipped again). */
  get position(): number {
    return this.piece;
  }

  /** The pair recorded for `key`, if any. Keys must not decrease between calls. */
  async lookup(key: string): Promise<{ sourceEtag: string; drEtag: string } | undefined> {
    for (;;) {
      if (this.ended || this.base === undefined) return undefined;
      if (!this.pairs) {
        await this.load(this.base);
        continue;
      }
      while (this.index < this.pairs.length && compareKeys(this.pairs[this.index]?.[0] ?? '', key) < 0) {
        this.index += 1;
      }
      const pair = this.pairs[this.index];
      if (pair) return pair[0] === key ? { sourceEtag: pair[1], drEtag: pair[2] } : undefined;
      await this.next(this.base);
    }
  }

  /** Deletes what is left of this shard's previous ledger (the shard is done with it). */
  async discard(): Promise<void> {
    while (!this.ended && this.base !== undefined) {
      if (!this.pairs) await this.load(this.base);
      else await this.next(this.base);
    }
  }

  private async load(base: string): Promise<void> {
    const key = pieceKey(base, this.piece);
    const text = await this.store.getText(key);
    if (text === undefined) {
      this.ended = true;
      return;
    }
    let parsed: z.core.util.SafeParseResult<z.infer<typeof pieceSchema>>;
    try {
      parsed = pieceSchema.safeParse(JSON.parse(text));
    } catch (error) {
      parsed = pieceSchema.safeParse(undefined);
      this.log.warn('verify ledger piece is not JSON; its keys are checked again', {
        bucket: this.store.bucket,
        key,
        action: 'ledger-skip',
        reason: describeError(error).message,
      });
    }
    this.pairs = parsed.success ? parsed.data.pairs : [];
    this.index = 0;
  }

  private async next(base: string): Promise<void> {
    await this.store.remove(pieceKey(base, this.piece));
    this.piece += 1;
    this.pairs = undefined;
  }
}

/** Writes one shard's new ledger as sorted pieces. */
export class LedgerWriter {
  private readonly store: ObjectStore;
  private readonly base: string;
  private piece: number;
  private buffer: Pair[] = [];

  private readonly onPiece: () => void;

  /** `onPiece` is told of every piece written. */
  constructor(store: ObjectStore, base: string, piece: number, onPiece: () => void) {
    this.store = store;
    this.base = base;
    this.piece = piece;
    this.onPiece = onPiece;
  }

  /** The next piece to write. */
  get position(): number {
    return this.piece;
  }

  add(key: string, sourceEtag: string, drEtag: string): void {
    this.buffer.push([key, sourceEtag, drEtag]);
  }

  /**
   * Writes full pieces (all that is buffered with `all`). Call it only when no key before those buffered
   * can be added any more: pairs arrive out of order from concurrent checks, pieces must not.
   */
  async flush(all = false): Promise<void> {
    this.buffer.sort((a, b) => compareKeys(a[0], b[0]));
    while (this.buffer.length >= LEDGER_PIECE || (all && this.buffer.length > 0)) {
      const pairs = this.buffer.splice(0, LEDGER_PIECE);
      await this.store.putText(pieceKey(this.base, this.piece), JSON.stringify({ v: 1, pairs }));
      this.piece += 1;
      this.onPiece();
    }
  }
}
