/**
 * The emulator's listing (patches/fauxqs+2.4.1.patch, s3Store.js) pages a bucket as S3 does, at a cost
 * that does not grow with the bucket: each bucket keeps its keys sorted and a page binary-searches its
 * start. fauxqs 2.4.1 filtered and sorted every object of the bucket for every page, so a walk of a flat
 * prefix cost O(N) per page — emulator time that every client's benchmark paid (docs/local.md).
 *
 * What S3 documents and these tests hold the index to: the S3 API Reference, ListObjectsV2
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html): objects "are returned sorted in
 * an ascending order of the respective key names", which the User Guide ("Listing object keys
 * programmatically") makes precise: "List results are always returned in UTF-8 binary order"; `StartAfter`
 * "is where you want Amazon S3 to start listing from. Amazon S3 starts listing after this specified key.
 * StartAfter can be any key in the bucket"; with a `Delimiter`, the keys that contain it after the prefix are
 * rolled up into one `CommonPrefixes` entry, and "each rolled-up result counts as only one return against
 * the MaxKeys value".
 */
import { describe, expect, it } from '@jest/globals';
import * as fc from 'fast-check';

interface Listed {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface Store {
  createBucket(name: string): void;
  putObject(bucket: string, key: string, body: Buffer): unknown;
  deleteObject(bucket: string, key: string): void;
  listObjects(
    bucket: string,
    options: { prefix?: string; delimiter?: string; maxKeys?: number; startAfter?: string },
  ): Listed;
  buckets: Map<string, Map<string, { key: string }>>;
}

const dist = new URL('.', import.meta.resolve('fauxqs'));
const { S3Store } = (await import(new URL('s3/s3Store.js', dist).href)) as { S3Store: new () => Store };

const utf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * ListObjectsV2 over a set of keys, written the plain way: filter, sort, roll up, page. A marker inside a
 * rolled-up prefix skips that prefix, as fauxqs always did (S3 does not document that case; the verifier
 * does not rely on either answer, see lib/verify/bucket.ts).
 */
function oracle(
  keys: Iterable<string>,
  o: { prefix: string; delimiter?: string; maxKeys: number; startAfter?: string },
): { objects: string[]; commonPrefixes: string[]; isTruncated: boolean } {
  const entries: { key: string; prefix: boolean }[] = [];
  const seen = new Set<string>();
  for (const key of [...keys].filter((k) => k.startsWith(o.prefix)).sort(utf8)) {
    const at = o.delimiter ? key.indexOf(o.delimiter, o.prefix.length) : -1;
    const entry = at >= 0 ? key.slice(0, at + (o.delimiter?.length ?? 0)) : key;
    if (o.startAfter !== undefined && utf8(entry, o.startAfter) <= 0) continue;
    if (seen.has(entry)) continue;
    seen.add(entry);
    entries.push({ key: entry, prefix: at >= 0 });
  }
  const page = entries.slice(0, o.maxKeys);
  return {
    objects: page.filter((e) => !e.prefix).map((e) => e.key),
    commonPrefixes: page.filter((e) => e.prefix).map((e) => e.key),
    isTruncated: entries.length > o.maxKeys,
  };
}

const listed = (r: Listed) => ({
  objects: r.objects.map((obj) => obj.key),
  commonPrefixes: r.commonPrefixes,
  isTruncated: r.isTruncated,
});

// Short keys over a small alphabet (with the delimiter, case, and characters on both sides of U+D800 that
// UTF-16 and UTF-8 order differently), so prefixes, markers and rolled-up prefixes collide often.
const char = fc.constantFrom('a', 'b', 'B', '/', '-', '~', '\u00e9', '\uffee', '\u{1f600}');
const key = fc.array(char, { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
const op = fc.oneof(
  fc.record({ put: key }),
  fc.record({ del: key }),
  fc.record({
    list: fc.record({
      prefix: fc.array(char, { maxLength: 2 }).map((cs) => cs.join('')),
      delimiter: fc.option(fc.constantFrom('/', '-'), { nil: undefined }),
      maxKeys: fc.integer({ min: 1, max: 6 }),
      startAfter: fc.option(key, { nil: undefined }),
    }),
  }),
);

describe('the emulator lists a bucket through a sorted key index', () => {
  it('answers every listing as S3 orders and pages it, through puts, overwrites and deletes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new S3Store();
        store.createBucket('bkt');
        const keys = new Set<string>();
        for (const o of ops) {
          if ('put' in o) {
            store.putObject('bkt', o.put, Buffer.from(o.put));
            keys.add(o.put);
          } else if ('del' in o) {
            store.deleteObject('bkt', o.del);
            keys.delete(o.del);
          } else {
            expect(listed(store.listObjects('bkt', o.list))).toEqual(oracle(keys, o.list));
          }
        }
        const all = { prefix: '', maxKeys: 1000 };
        expect(listed(store.listObjects('bkt', all))).toEqual(oracle(keys, all));
      }),
      { numRuns: 500 },
    );
  });

  it('serves a page of a large bucket without reading every object in it', () => {
    const store = new S3Store();
    store.createBucket('big');
    for (let i = 0; i < 20_000; i++) {
      store.putObject('big', `t-${i % 20}/k-${String(i).padStart(6, '0')}`, Buffer.from('x'));
    }
    // Count the reads of objects' keys: a listing that filters the whole bucket reads all 20,000.
    let reads = 0;
    const objects = store.buckets.get('big');
    for (const [k, obj] of objects ?? []) {
      Object.defineProperty(obj, 'key', {
        get: () => {
          reads += 1;
          return k;
        },
      });
    }
    store.listObjects('big', { prefix: '', maxKeys: 1 });
    reads = 0;
    const page = store.listObjects('big', { prefix: 't-7/', startAfter: 't-7/k-010007', maxKeys: 10 });
    const rolledUp = store.listObjects('big', { prefix: '', delimiter: '/', maxKeys: 1000 });

    expect(page.objects.map((o) => o.key)[0]).toBe('t-7/k-010027');
    expect(page.objects).toHaveLength(10);
    expect(rolledUp.commonPrefixes).toHaveLength(20);
    expect(reads).toBeLessThan(100);
  });
});
