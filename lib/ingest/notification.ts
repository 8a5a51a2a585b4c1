import { InvalidPayloadError } from '../core/errors.ts';
import type { TaskQueue } from '../core/ports.ts';
import { excludedByKey, type ReplicationRule } from '../core/replication-rules.ts';
import { normaliseEtag, type Task, taskSchema } from '../core/task.ts';
import * as z from '../core/zod.ts';
import { zodProblems } from '../core/zod-problems.ts';

/** The fields of an S3 notification record that s3-dr reads (S3 sends more; they are ignored). */
const nonEmpty = () => z.string().check(z.minLength(1));
const size = () => z.optional(z.number().check(z.int(), z.nonnegative()));

const recordSchema = z.object({
  eventName: nonEmpty(),
  eventTime: nonEmpty(),
  s3: z.object({
    bucket: z.object({ name: nonEmpty() }),
    object: z.object({
      key: nonEmpty(),
      size: size(),
      eTag: z.optional(z.string()),
      versionId: z.optional(z.string()),
      sequencer: z.optional(z.string()),
    }),
  }),
});

/**
 * The fields of an S3 event delivered by EventBridge that s3-dr reads (S3 User Guide, "EventBridge event
 * message structure"). The key is URL-encoded as in notifications (Powertools for AWS Lambda's
 * `S3EventBridgeNotificationObject.key` decodes it with `unquote_plus` too); tests/unit/ingest.test.ts
 * states it.
 */
const eventBridgeSchema = z.object({
  source: z.literal('aws.s3'),
  'detail-type': nonEmpty(),
  time: nonEmpty(),
  detail: z.object({
    bucket: z.object({ name: nonEmpty() }),
    object: z.object({
      key: nonEmpty(),
      size: size(),
      etag: z.optional(z.string()),
      'version-id': z.optional(z.string()),
      sequencer: z.optional(z.string()),
    }),
    reason: z.optional(z.string()),
    'deletion-type': z.optional(z.string()),
  }),
});

const notificationSchema = z.union([
  z.object({ Records: z.array(z.unknown()) }),
  // Sent once when a notification configuration is saved; carries no object.
  z.object({ Event: z.literal('s3:TestEvent'), Bucket: z.optional(z.string()) }),
  // One event per invocation, from the EventBridge rule (eventSource: eventbridge).
  z.object({ source: z.literal('aws.s3'), 'detail-type': z.string() }),
]);

/** S3 notification event names (without `s3:`) of the `Object Created` reasons EventBridge reports. */
const CREATED_BY_REASON: Record<string, string> = {
  PutObject: 'ObjectCreated:Put',
  'POST Object': 'ObjectCreated:Post',
  CopyObject: 'ObjectCreated:Copy',
  CompleteMultipartUpload: 'ObjectCreated:CompleteMultipartUpload',
};

/**
 * The notification event name of an EventBridge S3 event, so both delivery modes make identical tasks:
 * `Object Deleted` is a removal or, with reason `Lifecycle Expiration`, a lifecycle expiration, each a
 * permanent delete or a delete marker (`deletion-type`). Undefined for detail-types s3-dr has no name for.
 */
export function eventNameOf(
  detailType: string,
  detail: { reason?: string; 'deletion-type'?: string },
): string | undefined {
  const marker = detail['deletion-type'] === 'Delete Marker Created';
  switch (detailType) {
    case 'Object Created':
      // A reason S3 may add later: still a creation, but not one replicate's Put/Copy fast paths assume.
      return (
        CREATED_BY_REASON[detail.reason ?? ''] ??
        `ObjectCreated:${(detail.reason ?? 'Unknown').replace(/[^A-Za-z]/g, '').slice(0, 40)}`
      );
    case 'Object Deleted': {
      const family = detail.reason === 'Lifecycle Expiration' ? 'LifecycleExpiration' : 'ObjectRemoved';
      return `${family}:${marker ? 'DeleteMarkerCreated' : 'Delete'}`;
    }
    case 'Object Tags Added':
      return 'ObjectTagging:Put';
    case 'Object Tags Deleted':
      return 'ObjectTagging:Delete';
    case 'Object Restore Completed':
      return 'ObjectRestore:Completed';
    default:
      return undefined;
  }
}

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
  | {
      kind: 'ignored';
      reason: 'test-event' | 'unconfigured-bucket' | 'unknown-event' | 'excluded-by-rule';
      detail: string;
    }
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
    const detail = zodProblems(parsed.error).join('; ');
    return { kind: 'invalid', index, error: `record ${index} is not an S3 notification record: ${detail}` };
  }
  const r = parsed.data;
  return toOutcome(
    {
      eventName: r.eventName.replace(/^s3:/, ''),
      eventTime: r.eventTime,
      bucket: r.s3.bucket.name,
      encodedKey: r.s3.object.key,
      sequencer: r.s3.object.sequencer,
      versionId: r.s3.object.versionId,
      size: r.s3.object.size,
      etag: r.s3.object.eTag,
    },
    index,
    sourceBuckets,
  );
}

/** Turns an S3 event delivered by EventBridge into a task, or says why it is not one. */
export function eventBridgeToOutcome(raw: unknown, sourceBuckets: readonly string[]): RecordOutcome {
  const parsed = eventBridgeSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = zodProblems(parsed.error).join('; ');
    return { kind: 'invalid', index: 0, error: `event is not an S3 event from EventBridge: ${detail}` };
  }
  const e = parsed.data;
  const eventName = eventNameOf(e['detail-type'], e.detail);
  if (eventName === undefined) {
    return {
      kind: 'ignored',
      reason: 'unknown-event',
      detail: `EventBridge detail-type ${e['detail-type']} is not replicated`,
    };
  }
  const o = e.detail.object;
  return toOutcome(
    {
      eventName,
      eventTime: e.time,
      bucket: e.detail.bucket.name,
      encodedKey: o.key,
      sequencer: o.sequencer,
      versionId: o['version-id'],
      size: o.size,
      etag: o.etag,
    },
    0,
    sourceBuckets,
  );
}

/** What both envelope shapes say about one object event. */
interface ObjectEventFields {
  eventName: string;
  eventTime: string;
  bucket: string;
  /** As the event carries it: URL-encoded. */
  encodedKey: string;
  sequencer?: string;
  versionId?: string;
  size?: number;
  etag?: string;
}

function toOutcome(r: ObjectEventFields, index: number, sourceBuckets: readonly string[]): RecordOutcome {
  const { eventName, bucket } = r;
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
    key = decodeEventKey(r.encodedKey);
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
    sequencer: r.sequencer,
    versionId: r.versionId,
    size: r.size,
    etag: normaliseEtag(r.etag),
  };
  const task = taskSchema.safeParse(candidate);
  if (!task.success) {
    const detail = zodProblems(task.error).join('; ');
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
 * A task for a key an exclude rule settles by its prefix becomes `ignored`: replicate would drop it, so
 * queueing it would only cost SQS requests (docs/replication-rules.md#what-rules-change-everywhere-the-key-space-is-read). Keys whose rule depends on tags
 * are queued: only replicate reads tags.
 */
function excludeByRule(outcome: RecordOutcome, rules: readonly ReplicationRule[]): RecordOutcome {
  if (outcome.kind !== 'queued' || rules.length === 0) return outcome;
  const rule = excludedByKey(rules, outcome.task.key);
  if (rule === undefined) return outcome;
  return {
    kind: 'ignored',
    reason: 'excluded-by-rule',
    detail: `rule ${rule} excludes s3://${outcome.task.bucket}/${outcome.task.key}`,
  };
}

/**
 * Turns an S3 notification (or one S3 event delivered by EventBridge) into replication tasks on the queue. Records that cannot be tasks are
 * reported, never silently dropped: ignorable ones (test events, other buckets, event types s3-dr does
 * not replicate) come back as `ignored`; malformed ones as `invalid`, after the good records of the same
 * notification have been queued, so the caller can fail the invocation and Lambda's retry and on-failure
 * destination keep the notification.
 */
export async function ingestNotification(
  event: unknown,
  deps: {
    queue: TaskQueue;
    sourceBuckets: readonly string[];
    /** Replication rules: a key an exclude rule settles by its prefix is ignored, not queued. */
    rules?: readonly ReplicationRule[];
  },
): Promise<IngestResult> {
  const shape = notificationSchema.safeParse(event);
  if (!shape.success) {
    throw new InvalidPayloadError(
      'event is not an S3 notification: it has neither Records, nor Event=s3:TestEvent, nor source=aws.s3 (EventBridge)',
    );
  }
  if ('Event' in shape.data) {
    return { queued: 0, ignored: [{ reason: 'test-event', detail: 's3:TestEvent' }], invalid: [] };
  }
  const outcomes = (
    'Records' in shape.data
      ? shape.data.Records.map((raw, i) => recordToOutcome(raw, i, deps.sourceBuckets))
      : [eventBridgeToOutcome(event, deps.sourceBuckets)]
  ).map((o) => excludeByRule(o, deps.rules ?? []));
  const tasks = outcomes.flatMap((o) => (o.kind === 'queued' ? [o.task] : []));
  if (tasks.length > 0) await deps.queue.send(tasks);
  return {
    queued: tasks.length,
    ignored: outcomes.flatMap((o) => (o.kind === 'ignored' ? [{ reason: o.reason, detail: o.detail }] : [])),
    invalid: outcomes.flatMap((o) => (o.kind === 'invalid' ? [{ index: o.index, error: o.error }] : [])),
  };
}
