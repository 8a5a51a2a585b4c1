import { describeError, RejectedTaskError } from '../core/errors.ts';
import type { Clock, ObjectStore, QueueMessage } from '../core/ports.ts';
import { parseTask } from '../core/task.ts';
import type { Telemetry } from '../core/telemetry.ts';
import { type ReplicateOutcome, type ReplicateSettings, replicateKey } from './replicate-key.ts';

export interface ReplicateBatchDeps extends Telemetry {
  /** The store of a configured source bucket; undefined for any other bucket. */
  sourceStore(bucket: string): ObjectStore | undefined;
  dr: ObjectStore;
  clock: Clock;
  settings: ReplicateSettings;
}

/**
 * The handler of one SQS batch of tasks, message by message: a message that fails (bad body, unconfigured
 * bucket, S3 error) throws, so it fails alone and comes back after the visibility timeout until the
 * queue's redrive moves it to the DLQ; every other message of the batch succeeds. Tasks for the same key
 * run one after the other so that, within a batch, a put and a delete of one key cannot race: make one
 * handler per batch.
 */
export function replicateMessages(deps: ReplicateBatchDeps): (message: QueueMessage) => Promise<string> {
  const chains = new Map<string, Promise<unknown>>();
  return async (message) => {
    try {
      const task = parseTask(message.body);
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
      logOutcome(outcome, task, deps);
      return outcome.kind;
    } catch (error) {
      const { name, message: text } = describeError(error);
      deps.metrics.addMetric('Failures', 'Count', 1);
      deps.outcomes.publish({ type: 'replicate-failed', reason: name });
      deps.logger.error('replication task failed; it will be retried, then dead-lettered', {
        messageId: message.messageId,
        receiveCount: message.receiveCount,
        error: { name, message: text },
      });
      throw error;
    }
  };
}

/** Handled, with its reason: an unreplicable or thawing source succeeds, so it is neither retried nor dead-lettered. */
function logOutcome(
  outcome: ReplicateOutcome,
  task: { bucket: string; key: string; etag?: string },
  deps: ReplicateBatchDeps,
): void {
  const where = { bucket: task.bucket, key: task.key, etag: task.etag, action: outcome.kind };
  if (outcome.kind === 'unreplicable') {
    deps.logger.warn('source object cannot be replicated as it is (archived or SSE-C); not retried', {
      ...where,
      reason: outcome.reason,
    });
  } else if (outcome.kind === 'thawing') {
    deps.logger.info('archived source object is being restored; its restore-completed event copies it', {
      ...where,
      reason: outcome.reason,
      thaw: outcome.thaw,
    });
  }
  deps.logger.debug('replicated', where);
}

function record_(
  outcome: ReplicateOutcome,
  eventTime: string,
  eventName: string,
  deps: ReplicateBatchDeps,
): void {
  const { metrics, outcomes } = deps;
  let lagMs: number | undefined;
  if (outcome.kind === 'copied' || outcome.kind === 'deleted') {
    // Lag only means something for work that came from an S3 event (not verifier repairs).
    if (!eventName.startsWith('Verify:')) {
      lagMs = Math.max(0, deps.clock.now().getTime() - Date.parse(eventTime));
      metrics.addMetric('ReplicationLagMs', 'Milliseconds', lagMs);
    }
  }
  switch (outcome.kind) {
    case 'copied':
      metrics.addMetric('ObjectsCopied', 'Count', 1);
      metrics.addMetric('BytesCopied', 'Bytes', outcome.bytes);
      outcomes.publish({ type: 'replicated', action: 'copied', bytes: outcome.bytes, lagMs });
      break;
    case 'deleted':
      metrics.addMetric('ObjectsDeleted', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'deleted', bytes: 0, lagMs });
      break;
    case 'retained':
      metrics.addMetric('ObjectsRetained', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'retained', bytes: 0 });
      break;
    case 'skipped':
      metrics.addMetric('ObjectsSkipped', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'skipped', bytes: 0 });
      break;
    case 'tagged':
      metrics.addMetric('ObjectsTagged', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'tagged', bytes: 0 });
      break;
    case 'unreplicable':
      // One metric for all reasons (the log line and the verify report say which): no per-reason dimension.
      metrics.addMetric('ObjectsUnreplicable', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'unreplicable', bytes: 0 });
      break;
    case 'excluded':
      metrics.addMetric('ObjectsExcluded', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'excluded', bytes: 0 });
      break;
    case 'thawing':
      metrics.addMetric('ObjectsThawing', 'Count', 1);
      outcomes.publish({ type: 'replicated', action: 'thawing', bytes: 0 });
      break;
  }
}
