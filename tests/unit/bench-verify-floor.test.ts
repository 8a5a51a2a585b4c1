/**
 * The floor of bench:verify (bench/verify-floor.ts) lists what an unsharded verify run lists, and only
 * counts. The fake S3 answers ListObjectsV2 as the API Reference documents it
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html): keys in UTF-8 byte order
 * after `StartAfter` or the continuation token; with a `Delimiter`, the keys sharing the string up to it
 * after `Prefix` are "rolled up into a single result element in the CommonPrefixes collection", and
 * "each rolled-up result counts as only one return against the MaxKeys value"; `KeyCount` counts both
 * (so it is not the number of objects); with `EncodingType=url` keys and prefixes come URL-encoded (a
 * space as `+`) and the response says so.
 */
import { ListObjectsV2Command, type ListObjectsV2CommandInput, S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { floorListing } from '../../bench/verify-floor.ts';
import { compareKeys } from '../../lib/core/key-order.ts';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1' });
const buckets = new Map<string, string[]>();
let inFlight = 0;
let mostInFlight = 0;

const encode = (key: string) => encodeURIComponent(key).replaceAll('%2F', '/').replaceAll('%20', '+');

function listPage(i: ListObjectsV2CommandInput) {
  const keys = buckets.get(i.Bucket ?? '') ?? [];
  const prefix = i.Prefix ?? '';
  const after = i.ContinuationToken ?? i.StartAfter ?? '';
  const contents: string[] = [];
  const prefixes: string[] = [];
  let last = '';
  for (const key of keys) {
    if (!key.startsWith(prefix) || compareKeys(key, after) <= 0) continue;
    const at = i.Delimiter ? key.indexOf(i.Delimiter, prefix.length) : -1;
    const rolled = at >= 0 ? key.slice(0, at + 1) : undefined;
    if (rolled !== undefined && prefixes.at(-1) === rolled) continue;
    if (contents.length + prefixes.length === (i.MaxKeys ?? 1000))
      return { contents, prefixes, truncated: true, last };
    if (rolled === undefined) contents.push(key);
    else prefixes.push(rolled);
    // A rolled-up prefix resumes past every key under it.
    last = rolled === undefined ? key : `${rolled}\u{10ffff}`;
  }
  return { contents, prefixes, truncated: false, last };
}

beforeEach(() => {
  s3.reset();
  buckets.clear();
  inFlight = 0;
  mostInFlight = 0;
  s3.on(ListObjectsV2Command).callsFake(async (i: ListObjectsV2CommandInput) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    // Every request stays open until the others sent in the same turn are in: concurrency shows.
    await new Promise((resolve) => setImmediate(resolve));
    inFlight -= 1;
    const page = listPage(i);
    const url = i.EncodingType === 'url';
    return {
      Contents: page.contents.map((k) => ({ Key: url ? encode(k) : k, ETag: '"e"', Size: 1 })),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: url ? encode(p) : p })),
      KeyCount: page.contents.length + page.prefixes.length,
      IsTruncated: page.truncated,
      ...(page.truncated ? { NextContinuationToken: page.last } : {}),
      ...(url ? { EncodingType: 'url' as const } : {}),
    };
  });
});

/** `count` keys in each of `prefixes` prefixes, sorted as S3 lists them. */
const grid = (prefixes: string[], count: number, extra: string[] = []) =>
  [
    ...prefixes.flatMap((p) =>
      Array.from({ length: count }, (_, i) => `${p}/f-${String(i).padStart(5, '0')}`),
    ),
    ...extra,
  ].sort(compareKeys);

const listed = () => s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);

describe('the floor of bench:verify', () => {
  it('counts the objects of both buckets, prefix by prefix, as the verifier cuts them, and nothing under .s3dr/ (KeyCount also counts common prefixes)', async () => {
    buckets.set('src', grid(['tenant 0', 'tenant-1', 'tenant-2'], 2500));
    buckets.set('dr', grid(['tenant 0', 'tenant-1', 'tenant-2'], 2400, ['.s3dr/verify/cursor.json']));

    const counts = await floorListing({
      client,
      drClient: client,
      source: 'src',
      dr: 'dr',
      drPrefix: '',
      concurrency: 8,
    });

    expect(counts).toMatchObject({ sourceKeys: 7500, drKeys: 7200 });
    // The scope, then its three sub-prefixes as nodes (fewer than 2 × concurrency: expanded), each side.
    expect(counts.items).toBe(4);
    const requests = listed();
    expect(requests.every((r) => r.MaxKeys === 1000 && r.EncodingType === 'url')).toBe(true);
    expect(new Set(requests.map((r) => r.Prefix))).toEqual(
      new Set(['', 'tenant 0/', 'tenant-1/', 'tenant-2/']),
    );
    // Each side: the scope (1 page), then 3 pages per prefix (2,500 or 2,400 keys).
    expect(counts.lists).toBe(requests.length);
    expect(requests.length).toBe(20);
  });

  it('lists many prefixes flat, `concurrency` items at once (each item both buckets side by side)', async () => {
    const prefixes = Array.from({ length: 40 }, (_, i) => `p-${String(i).padStart(2, '0')}`);
    buckets.set('src', grid(prefixes, 10));
    buckets.set('dr', grid(prefixes, 10));

    const counts = await floorListing({
      client,
      drClient: client,
      source: 'src',
      dr: 'dr',
      drPrefix: '',
      concurrency: 3,
    });

    expect(counts).toMatchObject({ sourceKeys: 400, drKeys: 400, items: 41 });
    // 40 ≥ 2 × 3 sub-prefixes: each one flat listing (no delimiter), as the verifier's prefix shards.
    expect(listed().filter((r) => r.Prefix !== '' && r.Delimiter !== undefined)).toEqual([]);
    expect(mostInFlight).toBe(6);
  });

  it('maps DR keys under the bucket-prefixed layout and follows continuation tokens in DR', async () => {
    buckets.set('src', grid(['a', 'b'], 1500));
    buckets.set('dr', grid(['src/a', 'src/b'], 1500, ['other/x']));

    const counts = await floorListing({
      client,
      drClient: client,
      source: 'src',
      dr: 'dr',
      drPrefix: 'src/',
      concurrency: 8,
    });

    expect(counts).toMatchObject({ sourceKeys: 3000, drKeys: 3000 });
    expect(
      listed()
        .filter((r) => r.Bucket === 'dr')
        .map((r) => r.Prefix),
    ).toContain('src/b/');
  });
});
