import { randomUUID } from 'node:crypto';
import type { Config } from '../core/config.ts';
import { RejectedTaskError } from '../core/errors.ts';
import type { Clock, ObjectStore, TaskQueue } from '../core/ports.ts';
import type { Telemetry } from '../core/telemetry.ts';
import { type VerifyBucketSettings, verifyBucket } from './bucket.ts';
import type { VerifyRequest } from './payload.ts';
import { type BucketReport, reportKey, runReport, type VerifyReport } from './report.ts';

export interface VerifyRunDeps extends Telemetry {
  /** The store of a configured source bucket; undefined for any other bucket. */
  sourceStore(bucket: string): ObjectStore | undefined;
  dr: ObjectStore;
  /** The replication queue (only asked for when repairing). */
  queue(): TaskQueue;
  clock: Clock;
  settings: Pick<Config, 'keyLayout' | 'deletePolicy' | 'verifyConcurrency' | 'safetyMarginMs' | 'copyTags'> &
    Partial<Pick<Config, 'thawArchivedSources' | 'rules' | 'drStorageClass'>>;
}

/**
 * One verify run: each requested source bucket in turn (sharing the deadline), then the JSON report —
 * returned, and written under `.s3dr/reports/verify/` in the DR bucket — EMF metrics (`VerifyObjectsChecked`,
 * `VerifyMissing`, `VerifyMismatched`, `VerifyOrphaned`, `VerifyUnreplicable`, `VerifyPassComplete`,
 * `VerifyDurationMs`, …) and the `verified` outcome for local subscribers. `VerifyPassComplete` is 1 only when every bucket's pass
 * is complete after this run: it is the heartbeat the "verifier silent" alarm watches.
 */
export async function verifySources(request: VerifyRequest, deps: VerifyRunDeps): Promise<VerifyReport> {
  const runId = randomUUID();
  const startedAt = deps.clock.now();
  const buckets: BucketReport[] = [];
  for (const bucket of request.sources) {
    const source = deps.sourceStore(bucket);
    if (!source) throw new RejectedTaskError(`bucket ${bucket} is not a configured source bucket`);
    buckets.push(
      await verifyBucket(
        {
          source,
          dr: deps.dr,
          queue: request.repair ? deps.queue() : undefined,
          clock: deps.clock,
          log: deps.logger,
        },
        bucketSettings(request, deps.settings),
      ),
    );
  }
  const key = reportKey(startedAt, runId);
  const report = runReport(
    {
      runId,
      startedAt: startedAt.toISOString(),
      repair: request.repair,
      deep: request.deep,
      graceSeconds: request.graceSeconds,
      prefix: request.prefix,
      reportKey: key,
    },
    buckets,
    deps.clock.now().getTime() - startedAt.getTime(),
  );
  await deps.dr.putText(key, `${JSON.stringify(report, null, 2)}\n`);
  publishVerifyMetrics(report, deps);
  logVerifyRun(report, request, deps.logger);
  return report;
}

/** What verifying one bucket takes from the request and the stage's settings. */
export function bucketSettings(
  request: VerifyRequest,
  settings: VerifyRunDeps['settings'],
): VerifyBucketSettings {
  return {
    keyLayout: settings.keyLayout,
    deletePolicy: settings.deletePolicy,
    concurrency: settings.verifyConcurrency,
    safetyMarginMs: settings.safetyMarginMs,
    graceSeconds: request.graceSeconds,
    prefix: request.prefix,
    repair: request.repair,
    deep: request.deep,
    copyTags: settings.copyTags,
    thawArchivedSources: settings.thawArchivedSources ?? false,
    ...(settings.rules?.length
      ? {
          rules: {
            rules: settings.rules,
            defaults: {
              drStorageClass: settings.drStorageClass ?? 'STANDARD',
              deletePolicy: settings.deletePolicy,
            },
          },
        }
      : {}),
  };
}

/** The run's EMF metrics and its `verified` outcome. */
export function publishVerifyMetrics(
  report: VerifyReport,
  deps: Pick<VerifyRunDeps, 'metrics' | 'outcomes'>,
): void {
  const { counts } = report;
  const checked =
    counts.ok + counts.missing + counts.mismatched + counts.orphaned + counts.pending + counts.unreplicable;
  const m = deps.metrics;
  m.addMetric('VerifyObjectsChecked', 'Count', checked);
  m.addMetric('VerifyMissing', 'Count', counts.missing);
  m.addMetric('VerifyMismatched', 'Count', counts.mismatched);
  m.addMetric('VerifyOrphaned', 'Count', counts.orphaned);
  m.addMetric('VerifyPending', 'Count', counts.pending);
  // Not drift (VerifyMissing, which the drift alarm watches, leaves them out): the dashboard shows it.
  m.addMetric('VerifyUnreplicable', 'Count', counts.unreplicable);
  m.addMetric('VerifyRepairsQueued', 'Count', report.repairsQueued);
  m.addMetric('VerifyListingDisorder', 'Count', report.listingDisorder.count);
  const tags = report.buckets.flatMap((b) => (b.deep?.tags ? [b.deep.tags] : []));
  if (tags.length > 0) {
    m.addMetric(
      'VerifyTagDrift',
      'Count',
      tags.reduce((n, t) => n + t.drifted, 0),
    );
  }
  m.addMetric('VerifyPassComplete', 'Count', report.pass.complete ? 1 : 0);
  m.addMetric('VerifyDurationMs', 'Milliseconds', report.durationMs);
  deps.outcomes.publish({ type: 'verified', counts: { ...counts }, passComplete: report.pass.complete });
}

/** The run's summary line: a warning when a listing went out of order or DR lacks or differs in keys. */
export function logVerifyRun(
  report: VerifyReport,
  request: VerifyRequest,
  logger: VerifyRunDeps['logger'],
): void {
  const { counts } = report;
  const summary = {
    action: 'verify',
    buckets: request.sources,
    prefix: request.prefix,
    counts,
    repairsQueued: report.repairsQueued,
    listingDisorder: report.listingDisorder.count,
    ...(counts.unreplicable > 0 ? { unreplicable: report.unreplicable } : {}),
    pass: report.pass,
    requests: report.requests,
    durationMs: report.durationMs,
    reportKey: report.reportKey,
  };
  if (report.listingDisorder.count > 0) {
    logger.warn('verify left out keys a listing returned out of S3 key order', {
      ...summary,
      disorder: report.listingDisorder.samples,
    });
  }
  if (counts.missing + counts.mismatched > 0) {
    logger.warn('verify found keys missing or different in DR', {
      ...summary,
      samples: { missing: report.samples.missing, mismatched: report.samples.mismatched },
    });
  } else {
    logger.info('verify run finished', summary);
  }
}
