import type { ObjectHead } from '../core/ports.ts';
import type { Task } from '../core/task.ts';
import {
  isArchivedReason,
  restoreState,
  thawRequest,
  type UnreplicableReason,
} from '../core/unreplicable.ts';
import type { ReplicateDeps, ReplicateOutcome } from './replicate-key.ts';

/**
 * What replicate does with a source S3 cannot copy as it is. By default it only says so (an
 * `unreplicable` outcome: no retry, no dead letter — retrying cannot change the object's state). With
 * `thawArchivedSources`, an archived source is restored instead (RestoreObject, once: a restore already
 * under way is left alone) and reported `thawing`; the `s3:ObjectRestore:Completed` event S3 sends when
 * the restored copy is readable becomes a task that copies it. SSE-C cannot be thawed.
 */
export async function unreplicableOutcome(
  task: Task,
  drKey: string,
  src: ObjectHead | undefined,
  reason: UnreplicableReason,
  deps: ReplicateDeps,
  requests: string[],
): Promise<ReplicateOutcome> {
  const { settings } = deps;
  if (!settings.thawArchivedSources || !isArchivedReason(reason) || !src) {
    return { kind: 'unreplicable', drKey, reason, requests };
  }
  if (restoreState(src.restore) === 'in-progress') {
    return { kind: 'thawing', drKey, reason, thaw: 'in-progress', requests };
  }
  const { days, tier } = thawRequest(reason, {
    days: settings.thawDays ?? 1,
    tier: settings.thawTier ?? 'Bulk',
  });
  requests.push('RESTORE source');
  // Pinned to the version just read: a newer version is another task's business.
  const versionId = src.versionId && src.versionId !== 'null' ? src.versionId : undefined;
  const started = await deps.source.startThaw(task.key, versionId, days, tier);
  deps.log.info(
    started ? 'started restoring an archived source' : 'an archived source is already being restored',
    {
      bucket: task.bucket,
      key: task.key,
      versionId,
      etag: src.etag,
      action: 'thaw',
      reason,
      tier,
      days,
    },
  );
  return { kind: 'thawing', drKey, reason, thaw: started ? 'started' : 'in-progress', requests };
}
