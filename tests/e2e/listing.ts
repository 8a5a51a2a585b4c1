/**
 * One way to walk everything a bucket holds under a prefix, for the safety check and the cleanup: every
 * version and delete marker of a versioned bucket (ListObjectVersions), or every object of an
 * unversioned one (ListObjectsV2 — there, the current objects are all it holds). ListObjectsV2 pages with
 * the SDK's paginator; ListObjectVersions has none in the SDK, and continues from two markers
 * (NextKeyMarker, NextVersionIdMarker) while IsTruncated (Amazon S3 API Reference, ListObjectVersions).
 */
import {
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';

/** One thing stored under a key: an object version, a delete marker, or (unversioned) the object. */
export interface StoredEntry {
  key: string;
  /** Undefined in an unversioned bucket. */
  versionId?: string;
  deleteMarker: boolean;
  isLatest: boolean;
}

export interface ListedPage {
  entries: StoredEntry[];
  commonPrefixes: string[];
}

/**
 * True when versioning was ever enabled: GetBucketVersioning has no Status for a bucket that never had
 * versioning (Amazon S3 API Reference, GetBucketVersioning), and a Suspended bucket still holds versions.
 */
export async function isVersioned(s3: S3Client, bucket: string): Promise<boolean> {
  const r = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  return r.Status === 'Enabled' || r.Status === 'Suspended';
}

/** Pages of what `bucket` holds under `prefix` (grouped by `delimiter` when given). */
export async function* listStored(
  s3: S3Client,
  bucket: string,
  options: { prefix: string; delimiter?: string; versioned: boolean },
): AsyncGenerator<ListedPage> {
  const request = { Bucket: bucket, Prefix: options.prefix, Delimiter: options.delimiter };
  if (options.versioned) {
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page: ListObjectVersionsCommandOutput = await s3.send(
        new ListObjectVersionsCommand({ ...request, ...markers }),
      );
      yield {
        entries: [
          ...(page.Versions ?? []).map((v) => ({
            key: v.Key ?? '',
            versionId: v.VersionId ?? 'null',
            deleteMarker: false,
            isLatest: v.IsLatest ?? false,
          })),
          ...(page.DeleteMarkers ?? []).map((d) => ({
            key: d.Key ?? '',
            versionId: d.VersionId ?? 'null',
            deleteMarker: true,
            isLatest: d.IsLatest ?? false,
          })),
        ],
        commonPrefixes: (page.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
      };
      if (!page.IsTruncated) return;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }
  for await (const page of paginateListObjectsV2({ client: s3 }, request)) {
    yield {
      entries: (page.Contents ?? []).map((o) => ({ key: o.Key ?? '', deleteMarker: false, isLatest: true })),
      commonPrefixes: (page.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
    };
  }
}
