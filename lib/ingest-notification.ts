import { z } from 'zod';
import { InvalidPayloadError } from './errors.ts';
import type { TaskQueue } from './ports.ts';
import { normaliseEtag, type Task, taskSchema } from './task.ts';

/** The fields of an S3 notification record that s3-dr reads (S3 sends more; they are ignored). */
const recordSchema = z.object({
  eventName: z.string().min(1),
  eventTime: z.string().min(1),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

const notificationSchema = z.union([
  z.object({ Records: z.array(z.unknown()) }),
  // Sent once when a notification configuration is saved; carries no object.
  z.object({ Event: z.literal('s3:TestEvent'), Bucket: z.string().optional() }),
]);

/**
 * Writes, deletes, expirations and tag changes: S3 changes neither ETag nor Last-Modified when tags
 * change, so without their own event a tag change would never reach DR (replicate compares tag sets
 * only with copyTags on).
 */
const ACCEPTED_FAMILIES = ['ObjectCreated:', 'ObjectRemoved:', 'LifecycleExpiration:', 'ObjectTagging:'];
/**
 * A restored copy of an archived source became readable: the task copies it (thawArchivedSources; the
 * bucket is subscribed to it only then). `ObjectRestore:Post` (restore started) and `ObjectRestore:Delete`
 * (restored copy expired) change nothing replicate could act on.
 */
const ACCEPTED_EVENTS = ['ObjectRestore:Completed'];

export type RecordOutcome =
  | { kind: 'queued'; task: Task }
  | { kind: 'ignored'; reason: 'test-event' | 'unconfigured-bucket' | 'unknown-event'; detail: string }
  | { kind: 'invalid'; index: number; error: string };

/**
 * Decodes a key from an S3 notification: S3 URL-encodes keys in events the way HTML forms do, so `+`
 * is a space and `%2B` is a plus.
 */
export function decodeEventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** Turns one raw notification record into a task, or says why it is not one. */
export function recordToOutcome(
  raw: unknown,
  index: number,
  sourceBuckets: readonly string[],
): RecordOutcome {
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return { kind: 'invalid', index, error: `record ${index} is not an S3 notification record: ${detail}` };
  }
  const r = parsed.data;
  const eventName = r.eventName.replace(/^s3:/, '');
  const bucket = r.s3.bucket.name;
  if (!sourceBuckets.includes(bucket)) {
    return {
      kind: 'ignored',
      reason: 'unconfigured-bucket',
      detail: `bucket ${bucket} is not a configured source`,
    };
  }
  if (
    !ACCEPTED_FAMILIES.some((family) => eventName.startsWith(family)) &&
    !ACCEPTED_EVENTS.includes(eventName)
  ) {
    return { kind: 'ignored', reason: 'unknown-event', detail: `event ${eventName} is not replicated` };
  }
  let key: string;
  try {
    key = decodeEventKey(r.s3.object.key);
  } catch (error) {
    return {
      kind: 'invalid',
      index,
      error: `record ${index}: key is not URL-encoded correctly (${String(error)})`,
    };
  }
  const candidate = {
    v: 1 as const,
    bucket,
    key,
    eventName,
    eventTime: r.eventTime,
    sequencer: r.s3.object.sequencer,
    versionId: r.s3.object.versionId,
    size: r.s3.object.size,
    etag: normaliseEtag(r.s3.object.eTag),
  };
  const task = taskSchema.safeParse(candidate);
  if (!task.success) {
    const detail = task.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return { kind: 'invalid', index, error: `record ${index} (s3://${bucket}/…): ${detail}` };
  }
  return { kind: 'queued', task: task.data };
}

export interface IngestResult {
  queued: number;
  ignored: { reason: string; detail: string }[];
  invalid: { index: number; error: string }[];
}

/**
 * Turns an S3 notification into replication tasks on the queue. Records that cannot be tasks are
 * reported, never silently dropped: ignorable ones (test events, other buckets, event types s3-dr does
 * not replicate) come back as `ignored`; malformed ones as `invalid`, after the good records of the same
 * notification have been queued, so the caller can fail the invocation and Lambda's retry and on-failure
 * destination keep the notification.
 */
export async function ingestNotification(
  event: unknown,
  deps: { queue: TaskQueue; sourceBuckets: readonly string[] },
): Promise<IngestResult> {
  const shape = notificationSchema.safeParse(event);
  if (!shape.success) {
    throw new InvalidPayloadError(
      'event is not an S3 notification: it has neither Records nor Event=s3:TestEvent',
    );
  }
  if (!('Records' in shape.data)) {
    return { queued: 0, ignored: [{ reason: 'test-event', detail: 's3:TestEvent' }], invalid: [] };
  }
  const outcomes = shape.data.Records.map((raw, i) => recordToOutcome(raw, i, deps.sourceBuckets));
  const tasks = outcomes.flatMap((o) => (o.kind === 'queued' ? [o.task] : []));
  if (tasks.length > 0) await deps.queue.send(tasks);
  return {
    queued: tasks.length,
    ignored: outcomes.flatMap((o) => (o.kind === 'ignored' ? [{ reason: o.reason, detail: o.detail }] : [])),
    invalid: outcomes.flatMap((o) => (o.kind === 'invalid' ? [{ index: o.index, error: o.error }] : [])),
  };
}
