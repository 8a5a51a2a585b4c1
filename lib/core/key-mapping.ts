import { RESERVED_PREFIX } from './config.ts';
import { RejectedTaskError } from './errors.ts';

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

export type KeyLayout = 'flat' | 'bucket-prefixed';

/**
 * Maps a source object to its DR key. `flat` keeps keys 1:1 (one source bucket), `bucket-prefixed` puts
 * each source bucket under `<bucket>/`. Refuses keys that would collide with s3-dr's reserved prefix or
 * exceed S3's key length once mapped, rather than writing them somewhere unexpected.
 */
export function toDrKey(layout: KeyLayout, sourceBucket: string, key: string): string {
  const drKey = layout === 'flat' ? key : `${sourceBucket}/${key}`;
  if (drKey.startsWith(RESERVED_PREFIX)) {
    throw new RejectedTaskError(
      `key ${JSON.stringify(key)} maps into the reserved DR prefix ${RESERVED_PREFIX}; it cannot be replicated with keyLayout=${layout}`,
    );
  }
  if (Buffer.byteLength(drKey, 'utf8') > MAX_KEY_BYTES) {
    throw new RejectedTaskError(
      `key of ${Buffer.byteLength(key, 'utf8')} bytes maps to a DR key longer than ${MAX_KEY_BYTES} bytes (keyLayout=${layout})`,
    );
  }
  return drKey;
}

/** The DR key prefix holding one source bucket's objects ('' with the flat layout). */
export function drPrefixFor(layout: KeyLayout, sourceBucket: string): string {
  return layout === 'flat' ? '' : `${sourceBucket}/`;
}

/** Inverse of {@link toDrKey}: the source key of a DR key, or undefined if it belongs elsewhere. */
export function fromDrKey(layout: KeyLayout, sourceBucket: string, drKey: string): string | undefined {
  if (drKey.startsWith(RESERVED_PREFIX)) return undefined;
  const prefix = drPrefixFor(layout, sourceBucket);
  return drKey.startsWith(prefix) ? drKey.slice(prefix.length) : undefined;
}
