/**
 * Removes what a run wrote. In a versioned bucket "what it wrote" is every version and delete marker,
 * which only a DeleteObjects naming each VersionId removes; a delete without a version id would only add
 * a delete marker (Amazon S3 User Guide, "Working with delete markers"). The DR bucket's policy denies
 * s3:DeleteObjectVersion to everyone but its admin principal(s) (serverless.yml, DrBucketPolicy), so a
 * test run by anyone else is refused those deletes: it then hides the current objects behind delete
 * markers and leaves the versions to the bucket's lifecycle rule (noncurrent versions expire after
 * retentionDays; ExpiredObjectDeleteMarker then removes the lone markers — Amazon S3 User Guide,
 * "Expiring objects").
 */
import { DeleteObjectsCommand, type ObjectIdentifier, type S3Client } from '@aws-sdk/client-s3';
import { CleanupError } from './errors.ts';
import { isVersioned, listStored, type StoredEntry } from './listing.ts';
import { type E2eTarget, eventually } from './target.ts';

export interface CleanupReport {
  bucket: string;
  /** What was cleaned: a prefix, or exact keys. */
  scope: string;
  versioned: boolean;
  /** Versions, delete markers or (unversioned) objects removed for good. */
  removed: number;
  /** Versions and delete markers the bucket policy did not let us remove: left to the lifecycle rule. */
  leftToLifecycle: number;
  /** Delete markers added to hide current objects whose versions we could not remove. */
  hidden: number;
}

/** DeleteObjects takes at most 1,000 keys per request (Amazon S3 API Reference, DeleteObjects). */
const BATCH = 1000;

interface DeleteOutcome {
  denied: ObjectIdentifier[];
  failed: string[];
}

/**
 * DeleteObjects in batches, Quiet: the response then lists only the keys that failed. A failure is per
 * key, in `Errors`, with HTTP 200 for the request (Amazon S3 API Reference, DeleteObjects).
 */
async function deleteAll(s3: S3Client, bucket: string, ids: ObjectIdentifier[]): Promise<DeleteOutcome> {
  const outcome: DeleteOutcome = { denied: [], failed: [] };
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const r = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }),
    );
    for (const e of r.Errors ?? []) {
      if (e.Code === 'AccessDenied') outcome.denied.push({ Key: e.Key, VersionId: e.VersionId });
      else
        outcome.failed.push(`${e.Key}${e.VersionId ? `@${e.VersionId}` : ''}: ${e.Code} ${e.Message ?? ''}`);
    }
  }
  return outcome;
}

/**
 * Removes everything stored under `prefix` in `bucket` (or, with `exact`, only under keys equal to it):
 * every version and delete marker when the bucket is versioned. Throws when a delete fails for any reason
 * other than AccessDenied, after trying every key.
 */
export async function cleanupStored(
  s3: S3Client,
  bucket: string,
  scope: { prefix: string } | { key: string },
): Promise<CleanupReport> {
  const prefix = 'prefix' in scope ? scope.prefix : scope.key;
  const versioned = await isVersioned(s3, bucket);
  const entries: StoredEntry[] = [];
  for await (const page of listStored(s3, bucket, { prefix, versioned })) {
    entries.push(...page.entries.filter((e) => 'prefix' in scope || e.key === scope.key));
  }
  const report: CleanupReport = {
    bucket,
    scope: 'prefix' in scope ? `${scope.prefix}*` : scope.key,
    versioned,
    removed: 0,
    leftToLifecycle: 0,
    hidden: 0,
  };
  const first = await deleteAll(
    s3,
    bucket,
    entries.map((e) => (e.versionId === undefined ? { Key: e.key } : { Key: e.key, VersionId: e.versionId })),
  );
  report.removed = entries.length - first.denied.length - first.failed.length;
  report.leftToLifecycle = first.denied.length;
  const failed = [...first.failed];
  if (first.denied.length > 0) {
    // A current object whose version we may not delete: a plain delete (s3:DeleteObject) at least
    // takes it out of the bucket's current view, as the source-side delete policy `mirror` does.
    const denied = new Set(first.denied.map((d) => d.Key));
    const live = entries.filter((e) => e.isLatest && !e.deleteMarker && denied.has(e.key));
    const second = await deleteAll(
      s3,
      bucket,
      live.map((e) => ({ Key: e.key })),
    );
    report.hidden = live.length - second.denied.length - second.failed.length;
    failed.push(
      ...second.failed,
      ...second.denied.map((d) => `${d.Key}: AccessDenied (even without a version id)`),
    );
  }
  if (failed.length > 0) {
    throw new CleanupError(
      `cleanup of s3://${bucket}/${report.scope} failed for ${failed.length} entr${failed.length === 1 ? 'y' : 'ies'}: ${failed.slice(0, 5).join('; ')}`,
    );
  }
  return report;
}

/** One line per bucket for the person running the suite. */
export function describeCleanup(r: CleanupReport): string {
  const base = `s3://${r.bucket}/${r.scope}: removed ${r.removed} ${r.versioned ? 'version(s) and delete marker(s)' : 'object(s)'}`;
  if (r.leftToLifecycle === 0) return base;
  return `${base}; the bucket policy denied deleting ${r.leftToLifecycle} version(s)/marker(s) (s3:DeleteObjectVersion is reserved to the admin principal): ${r.hidden} current object(s) hidden behind delete markers, the rest is left to the lifecycle rule (noncurrent versions expire after retentionDays, then the lone delete markers)`;
}

/**
 * Cleans up after a run, also when it failed: first the source prefix; then, once the pipeline has
 * replicated those deletes (under `mirror` they become DR delete markers, which must land before the DR
 * cleanup or they would be left behind), the DR prefix and the run's own files under `.s3dr/` (the
 * verifier's cursor and report for the run's prefix).
 */
export async function cleanupRun(
  target: E2eTarget,
  prefix: string,
  drStateKeys: readonly string[],
): Promise<CleanupReport[]> {
  const reports = [await cleanupStored(target.source.s3, target.source.bucket, { prefix })];
  const drPrefix = target.drKey(prefix);
  let waitFailed: unknown;
  if (target.deletePolicy === 'mirror') {
    await eventually(
      target,
      `the source deletes of ${prefix} replicated to DR`,
      async () => {
        const keys: string[] = [];
        for await (const page of listStored(target.dr.s3, target.dr.bucket, {
          prefix: drPrefix,
          versioned: false,
        }))
          keys.push(...page.entries.map((e) => e.key));
        return keys;
      },
      (keys) => keys.length === 0,
    ).catch((error: unknown) => {
      // Clean DR anyway; a delete marker that lands later is left to the lifecycle rule.
      waitFailed = error;
    });
  } else {
    await target.settle();
  }
  reports.push(await cleanupStored(target.dr.s3, target.dr.bucket, { prefix: drPrefix }));
  for (const key of drStateKeys) reports.push(await cleanupStored(target.dr.s3, target.dr.bucket, { key }));
  if (waitFailed !== undefined) {
    throw new CleanupError(
      `cleaned up, but the DR deletes did not all land first: ${reports.map(describeCleanup).join(' | ')}`,
      { cause: waitFailed },
    );
  }
  return reports;
}
