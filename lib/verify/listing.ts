import { compareKeys } from '../core/key-order.ts';
import type { ListedObject, ListPage, ObjectStore } from '../core/ports.ts';

/**
 * An entry of a listing, keyed in the verifier's (source) key space: an object (whose own `key` is the
 * bucket's), or a common prefix.
 */
export interface ListingEntry {
  key: string;
  object?: ListedObject;
}

/** S3 returns at most 1,000 keys per ListObjectsV2 page. */
export const PAGE_SIZE = 1000;

export interface ListingOptions {
  /** `Prefix`, in the bucket's own key space. */
  prefix: string;
  delimiter?: string;
  /** `StartAfter` (exclusive), in the bucket's own key space. */
  startAfter?: string;
  /**
   * Maps a key (or common prefix) of the bucket to the verifier's key space, or `undefined` to leave it out
   * (the reserved `.s3dr/` prefix). Must preserve order: s3-dr's mappings only strip a shared prefix.
   */
  map: (key: string) => string | undefined;
  /**
   * No page is requested past a page that reaches this key (bucket key space, exclusive): the caller
   * stops there, so a prefetched page would be a wasted LIST.
   */
  endBefore?: string;
  /** Called once per LIST request, for the report's request counts. */
  onRequest: () => void;
  pageSize?: number;
}

/**
 * A page's objects and common prefixes (each sorted) interleaved into one sorted sequence, mapped into the
 * verifier's key space (entries the mapping leaves out are dropped).
 */
function pageEntries(page: ListPage, map: (key: string) => string | undefined): ListingEntry[] {
  const { objects, commonPrefixes } = page;
  const entries: ListingEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < objects.length || j < commonPrefixes.length) {
    const object = objects[i];
    const prefix = commonPrefixes[j];
    const isObject = object !== undefined && (prefix === undefined || compareKeys(object.key, prefix) < 0);
    const key = map(isObject ? object.key : (prefix ?? ''));
    if (isObject) i++;
    else j++;
    if (key !== undefined) entries.push(isObject ? { key, object } : { key });
  }
  return entries;
}

/** True when the page holds a key (or common prefix) at or after `bound`. */
function reaches(page: ListPage, bound: string | undefined): boolean {
  if (bound === undefined) return false;
  const lastObject = page.objects.at(-1)?.key;
  const lastPrefix = page.commonPrefixes.at(-1);
  return (
    (lastObject !== undefined && compareKeys(lastObject, bound) >= 0) ||
    (lastPrefix !== undefined && compareKeys(lastPrefix, bound) >= 0)
  );
}

/**
 * Streams one ListObjectsV2 walk as pages of entries, with the next page already requested while the
 * current one is consumed (one round trip of latency hidden per page; at most two pages held). Stopping
 * early leaves at most that one prefetched page unread.
 */
export async function* listEntries(
  store: ObjectStore,
  options: ListingOptions,
): AsyncGenerator<ListingEntry[]> {
  const fetchPage = (token: string | undefined) => {
    options.onRequest();
    return store.list({
      prefix: options.prefix,
      delimiter: options.delimiter,
      startAfter: token ? undefined : options.startAfter,
      token,
      maxKeys: options.pageSize ?? PAGE_SIZE,
    });
  };
  let pending: Promise<ListPage> | undefined = fetchPage(undefined);
  try {
    while (pending) {
      const page: ListPage = await pending;
      pending = page.nextToken && !reaches(page, options.endBefore) ? fetchPage(page.nextToken) : undefined;
      yield pageEntries(page, options.map);
    }
  } finally {
    // A prefetched page nobody will read must not surface as an unhandled rejection.
    pending?.catch(() => undefined);
  }
}
