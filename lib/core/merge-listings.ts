import { ListingOrderError } from './errors.ts';
import { compareKeys } from './key-order.ts';

/** Anything listed under a key: an object, a common prefix. */
export interface Keyed {
  key: string;
}

/** One step of the merge-join: the key, and what each side holds there (at least one is set). */
export interface Joined<S extends Keyed, D extends Keyed> {
  key: string;
  source?: S;
  dr?: D;
}

/** An entry a listing returned out of S3's order, which the merge-join left out. */
export interface ListingDisorder {
  /** Which listing (the label given to {@link mergeListings}). */
  listing: string;
  key: string;
  /** The greatest key that listing had returned before it. */
  after: string;
  kind: 'repeats' | 'goes backwards';
}

/**
 * Reads a listing page by page and hands out its entries one at a time, checking that keys strictly
 * increase in S3's order (UTF-8 bytes). A merge-join of a stream that is out of order would call present
 * keys missing, so an entry out of order is either an error (no `onDisorder`) or left out of the stream
 * and handed to `onDisorder` — the rest of the listing is still in order and can be compared.
 */
class OrderedCursor<T extends Keyed> {
  private readonly pages: AsyncIterator<readonly T[]>;
  private readonly label: string;
  private readonly onDisorder: ((disorder: ListingDisorder) => void) | undefined;
  private page: readonly T[] = [];
  private index = 0;
  private previous: string | undefined;
  done = false;

  constructor(
    pages: AsyncIterable<readonly T[]>,
    label: string,
    onDisorder: ((disorder: ListingDisorder) => void) | undefined,
  ) {
    this.pages = pages[Symbol.asyncIterator]();
    this.label = label;
    this.onDisorder = onDisorder;
  }

  /** The current entry, or undefined when the page is used up (call `fill`) or the listing is over. */
  get head(): T | undefined {
    return this.page[this.index];
  }

  /** Loads the next non-empty page once the current one is used up; checks its order on the way. */
  async fill(): Promise<void> {
    while (!this.done && this.index >= this.page.length) {
      const next = await this.pages.next();
      if (next.done) {
        this.done = true;
        this.page = [];
      } else {
        this.page = next.value;
        this.check();
      }
      this.index = 0;
    }
  }

  advance(): void {
    this.index += 1;
  }

  private check(): void {
    let kept: T[] | undefined;
    for (const [i, item] of this.page.entries()) {
      const previous = this.previous;
      if (previous !== undefined && compareKeys(previous, item.key) >= 0) {
        const kind = previous === item.key ? 'repeats' : 'goes backwards';
        if (!this.onDisorder) {
          throw new ListingOrderError(
            `the ${this.label} listing ${kind}: ${JSON.stringify(item.key)} came after ${JSON.stringify(previous)}; ` +
              'S3 lists keys in UTF-8 byte order, once each — refusing to compare rather than misclassify keys',
          );
        }
        this.onDisorder({ listing: this.label, key: item.key, after: previous, kind });
        kept ??= this.page.slice(0, i);
        continue;
      }
      kept?.push(item);
      this.previous = item.key;
    }
    if (kept) this.page = kept;
  }

  async close(): Promise<void> {
    await this.pages.return?.();
  }
}

/**
 * Merge-joins two listings sorted in S3's order — each an async stream of pages — into batches of keys,
 * each key with the source entry, the DR entry, or both. Memory is the two current pages, whatever the
 * size of the listings, and the work per key is synchronous: the merge only waits when a side needs its
 * next page. Both streams are checked for order: an entry that repeats or goes back is left out and
 * handed to `onDisorder` when one is given (so one entry a listing cannot place never stops the join),
 * and throws {@link ListingOrderError} otherwise. Stopping early (break / return) closes both listings.
 */
export async function* mergeListings<S extends Keyed, D extends Keyed>(
  source: AsyncIterable<readonly S[]>,
  dr: AsyncIterable<readonly D[]>,
  labels: { source: string; dr: string } = { source: 'source', dr: 'DR' },
  onDisorder?: (disorder: ListingDisorder) => void,
): AsyncGenerator<Joined<S, D>[]> {
  const s = new OrderedCursor(source, labels.source, onDisorder);
  const d = new OrderedCursor(dr, labels.dr, onDisorder);
  try {
    await Promise.all([s.fill(), d.fill()]);
    while (!s.done || !d.done) {
      const batch: Joined<S, D>[] = [];
      for (;;) {
        const a = s.head;
        const b = d.head;
        // A side whose page is used up must load the next one before anything can be decided.
        if (
          (a === undefined && !s.done) ||
          (b === undefined && !d.done) ||
          (a === undefined && b === undefined)
        ) {
          break;
        }
        const order = a === undefined ? 1 : b === undefined ? -1 : compareKeys(a.key, b.key);
        if (order < 0 && a) {
          batch.push({ key: a.key, source: a });
          s.advance();
        } else if (order > 0 && b) {
          batch.push({ key: b.key, dr: b });
          d.advance();
        } else if (a && b) {
          batch.push({ key: a.key, source: a, dr: b });
          s.advance();
          d.advance();
        }
      }
      if (batch.length > 0) yield batch;
      await Promise.all([s.fill(), d.fill()]);
    }
  } finally {
    await Promise.all([s.close(), d.close()]);
  }
}
