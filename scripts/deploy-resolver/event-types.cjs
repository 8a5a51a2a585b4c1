'use strict';
/** Which S3 events ingest subscribes to, and their EventBridge detail-types: one list for both event sources. */
const { ParamError } = require('./params.cjs');

/**
 * The S3 events s3-dr subscribes ingest to: the one list for both `eventSource` modes. Each notification
 * type is translated to the EventBridge detail-types that carry the same events (S3 User Guide, "Using
 * EventBridge" / "EventBridge event message structure"), so adding a type here adds it to the bucket
 * notifications and to the EventBridge rule alike; a type without a translation fails `sls package`.
 */
const S3_EVENT_TYPES = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*', 's3:LifecycleExpiration:*'];
const EVENTBRIDGE_DETAIL_TYPES = {
  's3:ObjectCreated:*': ['Object Created'],
  's3:ObjectRemoved:*': ['Object Deleted'],
  // EventBridge reports lifecycle expirations as "Object Deleted" with reason "Lifecycle Expiration".
  's3:LifecycleExpiration:*': ['Object Deleted'],
  's3:ObjectTagging:*': ['Object Tags Added', 'Object Tags Deleted'],
  's3:ObjectRestore:Completed': ['Object Restore Completed'],
};
/**
 * The S3 events ingest subscribes to. Tag changes change neither ETag nor Last-Modified, so they reach DR
 * only through their own events (s3:ObjectTagging:Put / :Delete): subscribed when tags are replicated
 * (copyTags). With thawArchivedSources, also "a restored copy is readable" (s3:ObjectRestore:Completed),
 * which brings the copy of a source replicate had to restore first.
 */
const sourceEventTypes = (s) => [
  ...S3_EVENT_TYPES,
  ...(s.copyTags ? ['s3:ObjectTagging:*'] : []),
  ...(s.thawArchivedSources ? ['s3:ObjectRestore:Completed'] : []),
];

/** The EventBridge detail-types for the stage's event types (see S3_EVENT_TYPES), without repeats. */
function eventBridgeDetailTypes(s) {
  const types = [];
  for (const type of sourceEventTypes(s)) {
    const translated = EVENTBRIDGE_DETAIL_TYPES[type];
    if (!translated) {
      throw new ParamError('eventSource', `cannot route ${type} through EventBridge: add its detail-types`);
    }
    for (const t of translated) if (!types.includes(t)) types.push(t);
  }
  return types;
}

module.exports = { S3_EVENT_TYPES, EVENTBRIDGE_DETAIL_TYPES, sourceEventTypes, eventBridgeDetailTypes };
