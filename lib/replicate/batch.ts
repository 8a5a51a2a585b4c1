import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { publishOutcome } from '../aws/observability.ts';
import { describeError, RejectedTaskError } from '../core/errors.ts';
import type { Clock, ObjectStore } from '../core/ports.ts';
import { parseTask } from '../core/task.ts';
import { type ReplicateOutcome, type ReplicateSettings, replicateKey } from './replicate-key.ts';

export interface ReplicateBatchDeps {
  /** The store of a configured source bucket; undefined for any other bucket. */
  sourceStore(bucket: string): ObjectStore | undefined;
  dr: ObjectStore;
  clock: Clock;
  settings: ReplicateSettings;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Replicates one SQS batch of tasks and returns the partial batch response: a record that fails (bad
 * body, unconfigured bucket, S3 error) fails alone and comes back after the visibility timeout until the
 * queue's redrive moves it to the DLQ; every other record of the batch succeeds. Tasks for the same key
 * run one after the other so that, within a batch, a put and a delete of one key cannot race.
 */
export async function replicateBatch(
  event: SQSEvent,
  context: Context,
  deps: ReplicateBatchDeps,
): Promise<SQSBatchResponse> {
  const chains = new Map<string, Promise<unknown>>();
  const processor = new BatchProcessor(EventType.SQS);
  const handleRecord = async (record: SQSRecord) => {
    try {
      const task = parseTask(record.body);
      const source = deps.sourceStore(task.bucket);
      if (!source) throw new RejectedTaskError(`bucket ${task.bucket} is not a configured source bucket`);
      const id = `${task.bucket}\u0000${task.key}`;
      const previous = chains.get(id) ?? Promise.resolve();
      const run = previous
        .catch(() => undefined)
        .then(() => replicateKey(task, { ...deps, source, log: deps.logger }));
      chains.set(id, run);
      const outcome = await run;
      record_(outcome, task.eventTime, task.eventName, deps);
      if (outcome.kind === 'unreplicable' || outcome.kind === 'thawing') {
        // Handled, with its reason: the record succeeds, so it is neither retried nor dead-lettered.
        const log = outcome.kind === 'unreplicable' ? deps.logger.warn : deps.logger.info;
        log.call(
          deps.logger,
          outcome.kind === 'unreplicable'
            ? 'source object cannot be replicated as it is (archived or SSE-C); not retried'
            : 'archived source object is being restored; its restore-completed event copies it',
          {
            bucket: task.bucket,
            key: task.key,
            etag: task.etag,
            action: outcome.kind,
            reason: outcome.reason,
            ...(outcome.kind === 'thawing' ? { thaw: outcome.thaw } : {}),
          },
        );
      }
      deps.logger.debug('replicated', {
        bucket: task.bucket,
        key: task.key,
        etag: task.etag,
        action: outcome.kind,
      });
      return outcome.kind;
    } catch (error) {
      const { name, message } = describeError(error);
      deps.metrics.addMetric('Failures', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicate-failed', reason: name });
      deps.logger.error('replication task failed; it will be retried, then dead-lettered', {
        messageId: record.messageId,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        error: { name, message },
      });
      throw error;
    }
  };
  // A batch whose records all fail is still a partial response: failures are counted (Failures metric)
  // and dead-lettered; the function's Errors metric is kept for the function itself breaking.
  return processPartialResponse(event, handleRecord, processor, {
    context,
    processInParallel: true,
    throwOnFullBatchFailure: false,
  });
}

function record_(
  outcome: ReplicateOutcome,
  eventTime: string,
  eventName: string,
  deps: ReplicateBatchDeps,
): void {
  const { metrics } = deps;
  let lagMs: number | undefined;
  if (outcome.kind === 'copied' || outcome.kind === 'deleted') {
    // Lag only means something for work that came from an S3 event (not verifier repairs).
    if (!eventName.startsWith('Verify:')) {
      lagMs = Math.max(0, deps.clock.now().getTime() - Date.parse(eventTime));
      metrics.addMetric('ReplicationLagMs', MetricUnit.Milliseconds, lagMs);
    }
  }
  switch (outcome.kind) {
    case 'copied':
      metrics.addMetric('ObjectsCopied', MetricUnit.Count, 1);
      metrics.addMetric('BytesCopied', MetricUnit.Bytes, outcome.bytes);
      publishOutcome({ type: 'replicated', action: 'copied', bytes: outcome.bytes, lagMs });
      break;
    case 'deleted':
      metrics.addMetric('ObjectsDeleted', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'deleted', bytes: 0, lagMs });
      break;
    case 'retained':
      metrics.addMetric('ObjectsRetained', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'retained', bytes: 0 });
      break;
    case 'skipped':
      metrics.addMetric('ObjectsSkipped', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'skipped', bytes: 0 });
      break;
    case 'tagged':
      metrics.addMetric('ObjectsTagged', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'tagged', bytes: 0 });
      break;
    case 'unreplicable':
      // One metric for all reasons (the log line and the verify report say which): no per-reason dimension.
      metrics.addMetric('ObjectsUnreplicable', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'unreplicable', bytes: 0 });
      break;
    case 'excluded':
      metrics.addMetric('ObjectsExcluded', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'excluded', bytes: 0 });
      break;
    case 'thawing':
      metrics.addMetric('ObjectsThawing', MetricUnit.Count, 1);
      publishOutcome({ type: 'replicated', action: 'thawing', bytes: 0 });
      break;
  }
}
