/**
 * The refusal rule: the suite writes into a real stage's buckets and deletes what it wrote, so it runs
 * only against a stage whose DR bucket holds nothing but earlier test data and s3-dr's own state.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { RESERVED_PREFIX } from '../../lib/core/config.ts';
import { E2eRefusedError } from './errors.ts';
import { isVersioned, listStored } from './listing.ts';

/** Every key the suite writes starts with this (source keys; DR keys are mapped by the key layout). */
export const E2E_ROOT = 's3dr-e2e/';

/** Offenders named in the refusal; the walk stops once it has this many. */
const SHOWN = 10;

/**
 * Refuses (E2eRefusedError, before anything is written) when `bucket` holds any object version or delete
 * marker outside `allowedPrefix` (the DR form of `s3dr-e2e/`) and the reserved `.s3dr/` prefix. `.s3dr/`
 * is allowed because a deployed stage's scheduled verifier writes its cursor and reports there within
 * the hour, and replication can never write user data there (docs/design.md, invariant 8; lib/core/key-mapping.ts
 * refuses keys that map into it).
 *
 * The walk lists with Delimiter "/" and descends only into common prefixes on the way to
 * `allowedPrefix`, so it costs a few LIST requests however much the allowed prefixes hold. In a
 * versioned bucket it lists versions, so noncurrent versions of deleted data count too.
 */
export async function assertOnlyTestData(
  s3: S3Client,
  bucket: string,
  allowedPrefix: string,
  what: string,
): Promise<void> {
  const versioned = await isVersioned(s3, bucket);
  const offenders: string[] = [];
  const visit = async (prefix: string): Promise<void> => {
    for await (const page of listStored(s3, bucket, { prefix, delimiter: '/', versioned })) {
      for (const entry of page.entries) {
        if (offenders.length < SHOWN && !offenders.includes(entry.key)) offenders.push(entry.key);
      }
      for (const common of page.commonPrefixes) {
        if (offenders.length >= SHOWN) return;
        if (common === RESERVED_PREFIX || common === allowedPrefix) continue;
        if (allowedPrefix.startsWith(common)) await visit(common);
        else offenders.push(`${common}…`);
      }
      if (offenders.length >= SHOWN) return;
    }
  };
  await visit('');
  if (offenders.length > 0) {
    throw new E2eRefusedError(
      `refusing to run against ${what}: its DR bucket ${bucket} holds objects outside ${allowedPrefix} and ${RESERVED_PREFIX} ` +
        `(${offenders.join(', ')}${offenders.length >= SHOWN ? ', …' : ''}). The end-to-end suite writes and deletes objects; ` +
        `run it only against a stage whose DR bucket holds nothing but test data. Nothing was written.`,
    );
  }
}
