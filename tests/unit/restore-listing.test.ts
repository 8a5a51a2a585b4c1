import { describe, expect, it } from '@jest/globals';
import { ListingOrderError } from '../../lib/core/errors.ts';
import type { ListingDisorder } from '../../lib/core/merge-listings.ts';
import type {
  ListedObject,
  ListedVersion,
  ListPage,
  ObjectStore,
  VersionPage,
} from '../../lib/core/ports.ts';
import { type Candidate, prefixCandidates, TargetIndex } from '../../lib/restore/plan.ts';

const at = (day: number) => new Date(Date.UTC(2026, 10, day));
const ver = (key: string, versionId: string, day: number, deleteMarker = false): ListedVersion => ({
  key,
  versionId,
  isLatest: false,
  lastModified: at(day),
  deleteMarker,
  ...(deleteMarker ? {} : { etag: `e-${versionId}`, size: 1 }),
});
const obj = (key: string): ListedObject => ({ key, etag: `e-${key}`, size: 1, lastModified: at(1) });

/** A store that answers listings from canned pages, recording the requests. */
function pagedStore(pages: { versions?: VersionPage[]; objects?: ListPage[] }) {
  const calls: Record<string, unknown>[] = [];
  let v = 0;
  let o = 0;
  const store = {
    bucket: 'b',
    listVersions: async (options: Record<string, unknown>) => {
      calls.push(options);
      return pages.versions?.[v++] ?? { versions: [] };
    },
    list: async (options: Record<string, unknown>) => {
      calls.push(options);
      return pages.objects?.[o++] ?? { objects: [], commonPrefixes: [] };
    },
  } as unknown as ObjectStore;
  return { store, calls };
}

async function collect(gen: AsyncGenerator<Candidate>): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

const resolved = { source: 'src', target: { bucket: 'src', prefix: '', region: 'eu-west-1' } };

describe('reading the DR listing', () => {
  it("gathers a key's versions and delete markers across pages before planning it", async () => {
    const { store, calls } = pagedStore({
      versions: [
        {
          versions: [ver('a', 'a2', 2), ver('a', 'a1', 1), ver('b', 'b3', 5), ver('b', 'bm', 4, true)],
          nextKeyMarker: 'b',
          nextVersionIdMarker: 'bm',
        },
        { versions: [ver('b', 'b1', 1), ver('c', 'c1', 1)] },
      ],
    });
    const got = await collect(prefixCandidates(store, resolved, 'p', { keyLayout: 'flat' }, true, undefined));
    expect(got.map((c) => [c.key, c.versions?.map((x) => x.versionId)])).toEqual([
      ['a', ['a2', 'a1']],
      ['b', ['b3', 'bm', 'b1']],
      ['c', ['c1']],
    ]);
    expect(calls[1]).toMatchObject({ prefix: 'p', keyMarker: 'b', versionIdMarker: 'bm' });
  });

  it('maps bucket-prefixed DR keys back to source keys and starts after the cursor key', async () => {
    const { store, calls } = pagedStore({
      objects: [{ objects: [obj('src/x/2'), obj('src/x/3')], commonPrefixes: [] }],
    });
    const got = await collect(
      prefixCandidates(store, resolved, 'x/', { keyLayout: 'bucket-prefixed' }, false, 'x/1'),
    );
    expect(got.map((c) => [c.key, c.drKey])).toEqual([
      ['x/2', 'src/x/2'],
      ['x/3', 'src/x/3'],
    ]);
    expect(calls[0]).toMatchObject({ prefix: 'src/x/', startAfter: 'src/x/1' });
  });

  it('orders keys by UTF-8 bytes, as S3 does, whatever order a page came in', async () => {
    const { store } = pagedStore({
      objects: [{ objects: [obj('é'), obj('Z'), obj('a'), obj('😀')], commonPrefixes: [] }],
    });
    const got = await collect(prefixCandidates(store, resolved, '', { keyLayout: 'flat' }, false, undefined));
    expect(got.map((c) => c.key)).toEqual(['Z', 'a', 'é', '😀']);
  });

  it('stops with ListingOrderError when a later page goes back in key order', async () => {
    const { store } = pagedStore({
      objects: [
        { objects: [obj('b'), obj('c')], commonPrefixes: [], nextToken: 't' },
        { objects: [obj('a')], commonPrefixes: [] },
      ],
    });
    await expect(
      collect(prefixCandidates(store, resolved, '', { keyLayout: 'flat' }, false, undefined)),
    ).rejects.toThrow(ListingOrderError);
  });

  it('with onDisorder, leaves out and names a key that goes back or repeats, and lists the rest', async () => {
    const { store } = pagedStore({
      objects: [
        // Without EncodingType=url, `p/a\rb` lists as a second `p/a\nb`.
        { objects: [obj('b'), obj('p/a\nb'), obj('p/a\nb')], commonPrefixes: [], nextToken: 't' },
        { objects: [obj('a'), obj('q')], commonPrefixes: [] },
      ],
    });
    const disorders: ListingDisorder[] = [];
    const got = await collect(
      prefixCandidates(store, resolved, '', { keyLayout: 'flat' }, false, undefined, (d) =>
        disorders.push(d),
      ),
    );
    expect(got.map((c) => c.key)).toEqual(['b', 'p/a\nb', 'q']);
    expect(disorders).toEqual([
      { listing: 'DR', key: 'p/a\nb', after: 'p/a\nb', kind: 'repeats' },
      { listing: 'DR', key: 'a', after: 'p/a\nb', kind: 'goes backwards' },
    ]);
  });
});

describe('the target index (a listing read alongside DR instead of a HEAD per key)', () => {
  it('finds keys across pages under the target prefix and reports absent ones as null', async () => {
    const { store, calls } = pagedStore({
      objects: [
        { objects: [obj('r/k1'), obj('r/k3')], commonPrefixes: [], nextToken: 't1' },
        { objects: [obj('r/k5')], commonPrefixes: [] },
      ],
    });
    const index = new TargetIndex(store, 'r/', 'r/k', 'k0');
    const found = [];
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'])
      found.push((await index.lookup(key))?.etag ?? null);
    expect(found).toEqual(['e-r/k1', null, 'e-r/k3', null, 'e-r/k5', null]);
    expect(calls).toEqual([
      { prefix: 'r/k', startAfter: 'r/k0', maxKeys: 1000 },
      { prefix: 'r/k', token: 't1', maxKeys: 1000 },
    ]);
  });

  it('stops with ListingOrderError when the target listing goes backwards', async () => {
    const { store } = pagedStore({
      objects: [
        { objects: [obj('m')], commonPrefixes: [], nextToken: 't' },
        { objects: [obj('b')], commonPrefixes: [] },
      ],
    });
    const index = new TargetIndex(store, '', '', undefined);
    await expect(index.lookup('z')).rejects.toThrow(ListingOrderError);
  });

  it('with onDisorder, stops answering once the target listing goes backwards: lookups fall back to HEAD', async () => {
    const { store } = pagedStore({
      objects: [
        { objects: [obj('m')], commonPrefixes: [], nextToken: 't' },
        { objects: [obj('b'), obj('z')], commonPrefixes: [] },
      ],
    });
    const disorders: ListingDisorder[] = [];
    const index = new TargetIndex(store, '', '', undefined, (d) => disorders.push(d));
    expect(await index.lookup('m')).toEqual({ etag: 'e-m', size: 1 });
    // `z` is in the target, but a listing out of order cannot say so, nor that anything is absent.
    expect(await index.lookup('y')).toBeUndefined();
    expect(await index.lookup('z')).toBeUndefined();
    expect(disorders).toEqual([{ listing: 'target s3://b', key: 'b', after: 'm', kind: 'goes backwards' }]);
  });
});
