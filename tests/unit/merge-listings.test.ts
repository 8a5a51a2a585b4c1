import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ListingOrderError } from '../../lib/core/errors.ts';
import { compareKeys } from '../../lib/core/key-order.ts';
import { type ListingDisorder, mergeListings } from '../../lib/core/merge-listings.ts';
import type { ListedObject, ListPage, ObjectStore } from '../../lib/core/ports.ts';
import { listEntries } from '../../lib/verify/listing.ts';

const awkwardChar = fc.constantFrom('a', 'B', '/', '-', '.', ' ', 'é', '\ue000', '😀');
const keySet = fc.uniqueArray(fc.string({ unit: awkwardChar, minLength: 1, maxLength: 5 }), {
  maxLength: 60,
});

const object = (key: string): ListedObject => ({ key, etag: 'e', size: 1, lastModified: new Date(0) });

/**
 * A bucket that answers ListObjectsV2 as S3 does: UTF-8 order, Prefix, Delimiter, StartAfter, opaque
 * continuation tokens, MaxKeys counting objects and common prefixes alike.
 */
function bucketOf(keys: readonly string[]): Pick<ObjectStore, 'list' | 'bucket'> {
  const sorted = [...keys].sort(compareKeys);
  return {
    bucket: 'fake',
    async list({ prefix = '', delimiter, startAfter, token, maxKeys = 1000 }): Promise<ListPage> {
      const from = token ?? startAfter ?? '';
      const objects: ListedObject[] = [];
      const commonPrefixes: string[] = [];
      let last = '';
      for (const key of sorted) {
        if (!key.startsWith(prefix) || (from && compareKeys(key, from) <= 0)) continue;
        const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
        const entry = cut >= 0 ? key.slice(0, cut + 1) : key;
        if (cut >= 0 && (entry === commonPrefixes.at(-1) || (from && compareKeys(entry, from) <= 0)))
          continue;
        if (objects.length + commonPrefixes.length === maxKeys)
          return { objects, commonPrefixes, nextToken: last };
        if (cut >= 0) commonPrefixes.push(entry);
        else objects.push(object(key));
        last = entry;
      }
      return { objects, commonPrefixes };
    },
  };
}

async function* paged(keys: readonly string[], pageSize: number) {
  for (let i = 0; i < keys.length; i += pageSize) {
    await Promise.resolve();
    yield keys.slice(i, i + pageSize).map(object);
  }
}

/** Every joined key, in the order the merge produced them (batches flattened). */
async function collect<T>(batches: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of batches) out.push(...batch);
  return out;
}

describe('mergeListings', () => {
  it('classifies exactly the set difference and intersection, for any two key sets and page sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        keySet,
        keySet,
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        async (a, b, pa, pb) => {
          const listing = (keys: string[], pageSize: number) =>
            listEntries(bucketOf(keys) as ObjectStore, {
              prefix: '',
              map: (k) => k,
              onRequest: () => undefined,
              pageSize,
            });
          const joined = await collect(mergeListings(listing(a, pa), listing(b, pb)));

          const inB = new Set(b);
          const inA = new Set(a);
          expect(joined.filter((j) => j.source && !j.dr).map((j) => j.key)).toEqual(
            a.filter((k) => !inB.has(k)).sort(compareKeys),
          );
          expect(joined.filter((j) => !j.source && j.dr).map((j) => j.key)).toEqual(
            b.filter((k) => !inA.has(k)).sort(compareKeys),
          );
          expect(joined.filter((j) => j.source && j.dr).map((j) => j.key)).toEqual(
            a.filter((k) => inB.has(k)).sort(compareKeys),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sees every key once through delimiter listings too: objects and common prefixes interleave in order', async () => {
    await fc.assert(
      fc.asyncProperty(keySet, keySet, fc.integer({ min: 1, max: 5 }), async (a, b, pageSize) => {
        const listing = (keys: string[]) =>
          listEntries(bucketOf(keys) as ObjectStore, {
            prefix: '',
            delimiter: '/',
            map: (k) => k,
            onRequest: () => undefined,
            pageSize,
          });
        const joined = await collect(mergeListings(listing(a), listing(b)));
        const entries = (keys: string[]) => [
          ...new Set(keys.map((k) => (k.includes('/') ? k.slice(0, k.indexOf('/') + 1) : k))),
        ];
        const expected = [...new Set([...entries(a), ...entries(b)])].sort(compareKeys);
        expect(joined.map((j) => j.key)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('stops with ListingOrderError naming the keys when a listing goes backwards', async () => {
    // UTF-16 order (what `sort()` gives) puts the emoji first; S3 never would.
    const jsSorted = ['a/😀', 'a/\ue000'];
    const merge = collect(mergeListings(paged(jsSorted, 1), paged([], 1)));
    await expect(merge).rejects.toThrow(ListingOrderError);
    await expect(collect(mergeListings(paged([], 1), paged(jsSorted, 1)))).rejects.toThrow(
      /the DR listing goes backwards: "a\/\ue000" came after "a\/😀"/,
    );
  });

  it('stops with ListingOrderError when a listing repeats a key, as a skipping-and-repeating pager would', async () => {
    await expect(collect(mergeListings(paged(['a', 'b', 'b', 'c'], 2), paged(['a'], 1)))).rejects.toThrow(
      /the source listing repeats: "b" came after "b"/,
    );
  });

  it('with onDisorder, leaves out a repeated entry and goes on (a listing that turned CR into LF repeats a key)', async () => {
    // `p/a\rb` and `p/a\nb` listed without EncodingType=url: XML 1.0 end-of-line handling makes both `p/a\nb`.
    const both = ['p/a\nb', 'p/a\nb', 'q'];
    const disorders: ListingDisorder[] = [];
    const joined = await collect(
      mergeListings(paged(both, 2), paged(both, 1), undefined, (d) => disorders.push(d)),
    );
    expect(joined.map((j) => [j.key, j.source !== undefined, j.dr !== undefined])).toEqual([
      ['p/a\nb', true, true],
      ['q', true, true],
    ]);
    expect(disorders).toEqual([
      { listing: 'source', key: 'p/a\nb', after: 'p/a\nb', kind: 'repeats' },
      { listing: 'DR', key: 'p/a\nb', after: 'p/a\nb', kind: 'repeats' },
    ]);
  });

  it('with onDisorder, leaves out an entry that goes backwards, keeps the rest in order and names it', async () => {
    const disorders: ListingDisorder[] = [];
    const joined = await collect(
      mergeListings(paged(['a', 'c', 'b', 'd'], 2), paged(['a', 'b', 'c', 'd'], 3), undefined, (d) =>
        disorders.push(d),
      ),
    );
    expect(disorders).toEqual([{ listing: 'source', key: 'b', after: 'c', kind: 'goes backwards' }]);
    // The other side's `b` has no partner: the caller must not take it for drift (verify-bucket.ts).
    expect(joined.map((j) => [j.key, j.source !== undefined, j.dr !== undefined])).toEqual([
      ['a', true, true],
      ['b', false, true],
      ['c', true, true],
      ['d', true, true],
    ]);
  });

  it('closes both listings when the consumer stops early', async () => {
    let closed = 0;
    async function* tracked(keys: string[]) {
      try {
        yield* paged(keys, 1);
      } finally {
        closed += 1;
      }
    }
    for await (const batch of mergeListings(tracked(['a', 'b', 'c']), tracked(['a', 'c']))) {
      if (batch.some((j) => j.key === 'b')) break;
    }
    expect(closed).toBe(2);
  });
});
