/** The S3 storage classes a DR copy may be written in (stage `drStorageClass`, or a rule's). */
export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;

export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** The retrieval tiers S3 offers for thawing an archived object (RestoreObject `GlacierJobParameters.Tier`). */
export const THAW_TIERS = ['Standard', 'Bulk', 'Expedited'] as const;

export type ThawTier = (typeof THAW_TIERS)[number];
