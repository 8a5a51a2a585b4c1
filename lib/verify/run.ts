import { randomUUID } from 'node:crypto';
import type { Config } from '../core/config.ts';
import { RejectedTaskError } from '../core/errors.ts';
import type { Clock, ObjectStore, TaskQueue } from '../core/ports.ts';
import type { Telemetry } from '../core/telemetry.ts';
import { verifyBucket } from './bucket.ts';
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
        {
          keyLayout: deps.settings.keyLayout,
          deletePolicy: deps.settings.deletePolicy,
          concurrency: deps.settings.verifyConcurrency,
          safetyMarginMs: deps.settings.safetyMarginMs,
          graceSeconds: request.graceSeconds,
          prefix: request.prefix,
          repair: request.repair,
          deep: request.deep,
          copyTags: deps.settings.copyTags,
          thawArchivedSources: deps.settings.thawArchivedSources ?? false,
          ...(deps.settings.rules?.length
            ? {
                rules: {
                  rules: deps.settings.rules,
                  defaults: {
                    drStorageClass: deps.settings.drStorageClass ?? 'STANDARD',
                    deletePolicy: deps.settings.deletePolicy,
                  },
                },
              }
            : {}),
        },
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
    reportKey: key,
  };
  if (report.listingDisorder.count > 0) {
    deps.logger.warn('verify left out keys a listing returned out of S3 key order', {
      ...summary,
      disorder: report.listingDisorder.samples,
    });
  }
  if (counts.missing + counts.mismatched > 0) {
    deps.logger.warn('verify found keys missing or different in DR', {
      ...summary,
      samples: { missing: report.samples.missing, mismatched: report.samples.mismatched },
    });
  } else {
    deps.logger.info('verify run finished', summary);
  }
  return report;
}
