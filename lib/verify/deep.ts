import { createHash } from 'node:crypto';
import { compareChecksums } from '../core/object-checksums.ts';
import type { ObjectStore } from '../core/ports.ts';
import { sameTags } from '../replicate/replicate-key.ts';
import type { RequestCounts } from './report.ts';

/**
 * Whether deep mode compares this key's content: every key at rate 1, none at 0, and in between a
 * deterministic share (by a hash of the key), so repeated runs check the same keys and a report can be
 * reproduced.
 */
export function isSampled(key: string, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  const h = createHash('sha256').update(key).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000 < rate;
}

export interface ContentComparison {
  same: boolean;
  /** `checksum:<ALGORITHM>` when both copies hold the same kind of checksum, else `hash:sha256`. */
  method: string;
}

/**
 * Compares the content of a source object and its DR copy. Where S3 holds a full-object checksum of the
 * same algorithm and type on both (GetObjectAttributes), that decides without reading a byte; otherwise
 * both objects are streamed through SHA-256 (this costs a GET of each: deep mode is opt-in for a reason).
 */
export async function compareContent(
  source: ObjectStore,
  key: string,
  dr: ObjectStore,
  drKey: string,
  requests: RequestCounts,
): Promise<ContentComparison> {
  requests.attributes += 2;
  const [a, b] = await Promise.all([source.checksums(key), dr.checksums(drKey)]);
  const verdict = compareChecksums(a, b);
  if (verdict.kind !== 'incomparable') {
    return { same: verdict.kind === 'same', method: `checksum:${verdict.algorithm}` };
  }
  requests.get += 2;
  const [x, y] = await Promise.all([source.hashBody(key, 'sha256'), dr.hashBody(drKey, 'sha256')]);
  return { same: x === y, method: 'hash:sha256' };
}

/**
 * Compares the tag sets of a source object and its DR copy (GetObjectTagging on both). Tags change
 * neither the ETag nor Last-Modified, so no listing can show a tag drift: only deep mode looks, and only
 * when tags are replicated (copyTags).
 */
export async function compareTags(
  source: ObjectStore,
  key: string,
  dr: ObjectStore,
  drKey: string,
  requests: RequestCounts,
): Promise<boolean> {
  requests.tagging += 2;
  const [a, b] = await Promise.all([source.getTags(key), dr.getTags(drKey)]);
  return sameTags(a, b);
}
