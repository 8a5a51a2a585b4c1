/**
 * Objects s3-dr cannot copy as they are (docs/design.md, invariant 7): archived objects without a
 * readable restored copy, and objects encrypted with a customer-provided key (SSE-C). Replicate reports
 * them (never retries or dead-letters them) and the verifier counts them apart from drift.
 */
import type { ObjectHead } from './ports.ts';
import type { ThawTier } from './storage-classes.ts';

/**
 * Why an object cannot be copied. Few values on purpose: they name log fields, report keys and the
 * thaw's choices (each archive has its own restore times and tiers).
 */
export const UNREPLICABLE_REASONS = [
  'archived-glacier',
  'archived-deep-archive',
  'archived-intelligent-tiering-archive',
  'archived-intelligent-tiering-deep-archive',
  'sse-c',
] as const;
export type UnreplicableReason = (typeof UNREPLICABLE_REASONS)[number];

/** A reason that a restore (RestoreObject) can lift; SSE-C needs the customer's key, which s3-dr never has. */
export function isArchivedReason(reason: UnreplicableReason): boolean {
  return reason !== 'sse-c';
}

/**
 * State of a restore from the `x-amz-restore` header: `ongoing-request="false"` means a restored copy is
 * there and readable (S3 User Guide, "Restoring an archived object": to keep an archived object, restore
 * it and copy it).
 */
export function restoreState(restore: string | undefined): 'none' | 'in-progress' | 'restored' {
  if (!restore) return 'none';
  return /ongoing-request="false"/.test(restore) ? 'restored' : 'in-progress';
}

/**
 * Why S3 would refuse to copy this object, from its HEAD; undefined when it can be copied. GLACIER and
 * DEEP_ARCHIVE need a completed restore, Intelligent-Tiering needs one only in its archive tiers
 * (`ArchiveStatus`); GLACIER_IR is not archived. SSE-C is unreadable without the customer's key whatever
 * the storage class. (S3 API reference, CopyObject: "Before using an object as a source object for the
 * copy operation, you must restore a copy of it if … GLACIER or DEEP_ARCHIVE … INTELLIGENT_TIERING and
 * … Archive Access or Deep Archive Access".)
 */
export function unreplicableReason(
  head: Pick<ObjectHead, 'storageClass' | 'archiveStatus' | 'restore' | 'sseCustomerAlgorithm'>,
): UnreplicableReason | undefined {
  if (head.sseCustomerAlgorithm) return 'sse-c';
  if (restoreState(head.restore) === 'restored') return undefined;
  if (head.storageClass === 'GLACIER') return 'archived-glacier';
  if (head.storageClass === 'DEEP_ARCHIVE') return 'archived-deep-archive';
  if (head.storageClass === 'INTELLIGENT_TIERING') {
    if (head.archiveStatus === 'ARCHIVE_ACCESS') return 'archived-intelligent-tiering-archive';
    if (head.archiveStatus === 'DEEP_ARCHIVE_ACCESS') return 'archived-intelligent-tiering-deep-archive';
  }
  return undefined;
}

/**
 * The RestoreObject request for an archived source: Intelligent-Tiering restores take no `Days` (the
 * object moves back to the Frequent Access tier for good; S3 fails a request that sets it), and Expedited
 * exists only for GLACIER and the Intelligent-Tiering Archive Access tier — elsewhere Standard instead.
 */
export function thawRequest(
  reason: UnreplicableReason,
  settings: { days: number; tier: ThawTier },
): { days: number | undefined; tier: ThawTier } {
  const intelligentTiering =
    reason === 'archived-intelligent-tiering-archive' ||
    reason === 'archived-intelligent-tiering-deep-archive';
  const expeditable = reason === 'archived-glacier' || reason === 'archived-intelligent-tiering-archive';
  return {
    days: intelligentTiering ? undefined : settings.days,
    tier: settings.tier === 'Expedited' && !expeditable ? 'Standard' : settings.tier,
  };
}
