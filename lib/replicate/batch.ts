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

/** The count each outcome adds to (one metric for all reasons of a kind: the log line says which). */
const OUTCOME_METRIC: Record<ReplicateOutcome['kind'], string> = {
  copied: 'ObjectsCopied',
  deleted: 'ObjectsDeleted',
  retained: 'ObjectsRetained',
  skipped: 'ObjectsSkipped',
  tagged: 'ObjectsTagged',
  unreplicable: 'ObjectsUnreplicable',
  excluded: 'ObjectsExcluded',
  thawing: 'ObjectsThawing',
};

function record_(
  outcome: ReplicateOutcome,
  eventTime: string,
  eventName: string,
  deps: ReplicateBatchDeps,
): void {
  const { metrics, outcomes } = deps;
  let lagMs: number | undefined;
  // Lag only means something for work that came from an S3 event (not verifier repairs).
  if ((outcome.kind === 'copied' || outcome.kind === 'deleted') && !eventName.startsWith('Verify:')) {
    lagMs = Math.max(0, deps.clock.now().getTime() - Date.parse(eventTime));
    metrics.addMetric('ReplicationLagMs', 'Milliseconds', lagMs);
  }
  metrics.addMetric(OUTCOME_METRIC[outcome.kind], 'Count', 1);
  const bytes = outcome.kind === 'copied' ? outcome.bytes : 0;
  if (outcome.kind === 'copied') metrics.addMetric('BytesCopied', 'Bytes', bytes);
  outcomes.publish({
    type: 'replicated',
    action: outcome.kind,
    bytes,
    ...(lagMs === undefined ? {} : { lagMs }),
  });
}
