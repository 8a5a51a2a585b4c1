/**
 * Object tagging for the embedded emulator. fauxqs 2.4.1 has none: `PUT ?tagging` is routed to
 * PutObject (the tagging XML becomes the object's body), `GET ?tagging` returns the body and
 * `DELETE ?tagging` deletes the object. S3 keeps a tag set beside each object, which only the tagging
 * requests change and which leaves the bytes, the ETag and Last-Modified as they were (S3 API reference,
 * PutObjectTagging / GetObjectTagging / DeleteObjectTagging; User Guide, "Categorizing your storage using
 * tags"); writes set it from `x-amz-tagging`, CopyObject copies it unless `x-amz-tagging-directive` is
 * REPLACE, and GET/HEAD report its size in `x-amz-tagging-count`. This module gives the emulator exactly
 * that, on fauxqs's own stored objects, and emits the `s3:ObjectTagging:Put` / `:Delete` events S3 sends
 * (User Guide, "Event notification types and destinations").
 *
 * Tests: tests/integration/emulator-tagging.test.ts.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyApp, ObjectEvent } from './emulator.ts';
import { type FieldStore, installWriteField } from './emulator-object-fields.ts';
import { requestScope } from './emulator-request.ts';
import { parseCopySource, VERSIONS_BUCKET } from './emulator-versioning.ts';
import { s3Error, xml, xmlEscape, xmlUnescape } from './emulator-xml.ts';

/** The part of fauxqs's S3 store (and of its stored objects) tagging needs. */
export interface TaggableStore extends FieldStore {
  buckets: Map<string, Map<string, TaggableObject>>;
}

interface TaggableObject {
  etag: string;
  tags?: Record<string, string>;
}

/** S3's limits on an object's tag set (User Guide, "Categorizing your storage using tags"). */
const MAX_TAGS = 10;
const MAX_KEY_CHARS = 128;
const MAX_VALUE_CHARS = 256;

/** Tags of `x-amz-tagging` (a URL-encoded query string, as S3 takes it); none when absent. */
function headerTags(value: unknown): Record<string, string> {
  if (typeof value !== 'string' || value === '') return {};
  return Object.fromEntries(new URLSearchParams(value));
}

/** Parses a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` body; undefined when it is not one. */
function parseTagging(body: string): [string, string][] | undefined {
  if (!/<Tagging[\s>]/.test(body) || !/<TagSet\s*\/?>/.test(body)) return undefined;
  const tags: [string, string][] = [];
  for (const m of body.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    const inner = m[1] ?? '';
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    const value =
      /<Value>([\s\S]*?)<\/Value>/.exec(inner)?.[1] ?? (/<Value\s*\/>/.test(inner) ? '' : undefined);
    if (key === undefined || value === undefined) return undefined;
    tags.push([xmlUnescape(key), xmlUnescape(value)]);
  }
  return tags;
}

/** S3's checks on a tag set; the message of the InvalidTag error, or undefined when it is valid. */
function invalidTags(tags: [string, string][]): string | undefined {
  if (tags.length > MAX_TAGS) return `Object tags cannot be greater than ${MAX_TAGS}`;
  if (new Set(tags.map(([k]) => k)).size !== tags.length)
    return 'Cannot provide multiple Tags with the same key';
  for (const [k, v] of tags) {
    if (k.length === 0 || [...k].length > MAX_KEY_CHARS) return 'The TagKey you have provided is invalid';
    if ([...v].length > MAX_VALUE_CHARS) return 'The TagValue you have provided is invalid';
  }
  return undefined;
}

/**
 * Answers GetObjectTagging, PutObjectTagging and DeleteObjectTagging for one stored object (the current
 * object or a version); `changed` keeps the new tag set and announces it.
 */
function answerTagging(
  request: FastifyRequest,
  reply: FastifyReply,
  stored: TaggableObject,
  changed: (eventName: 'ObjectTagging:Put' | 'ObjectTagging:Delete') => void,
): void {
  if (request.method === 'GET') {
    const tagSet = Object.entries(stored.tags ?? {})
      .map(([k, v]) => `<Tag><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></Tag>`)
      .join('');
    void reply
      .code(200)
      .header('content-type', 'application/xml')
      .send(
        xml(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${tagSet}</TagSet></Tagging>`),
      );
    return;
  }
  if (request.method === 'PUT') {
    const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');
    const tags = parseTagging(body);
    if (!tags) {
      s3Error(reply, 400, 'MalformedXML', 'The XML you provided was not well-formed.');
      return;
    }
    const invalid = invalidTags(tags);
    if (invalid) {
      s3Error(reply, 400, 'InvalidTag', invalid);
      return;
    }
    // The whole set is replaced; the object's bytes, ETag and Last-Modified stay as they are.
    stored.tags = Object.fromEntries(tags);
    changed('ObjectTagging:Put');
    void reply.code(200).send();
    return;
  }
  if (request.method === 'DELETE') {
    stored.tags = {};
    changed('ObjectTagging:Delete');
    void reply.code(204).send();
    return;
  }
  s3Error(reply, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
}

/**
 * Installs tagging on a fauxqs app and its S3 store. Call it before anything else wraps the store's
 * write methods, so the tag set is in place when those wrappers announce the write.
 */
export function installObjectTagging(
  app: FastifyApp,
  store: TaggableStore,
  emit: (event: ObjectEvent) => void,
  /** One version of an object on a versioned bucket (local/emulator-versioning.ts): tags follow versions. */
  versionOf: (bucket: string, key: string, versionId: string) => TaggableObject | undefined = () => undefined,
): void {
  const current = requestScope<FastifyRequest>();
  const objectOf = (bucket: string, key: string, versionId?: string) =>
    versionId === undefined ? store.buckets.get(bucket)?.get(key) : versionOf(bucket, key, versionId);
  /** The tag set a write request gives the object it writes (read before the write replaces it). */
  const tagsForWrite = (request: FastifyRequest): Record<string, string> => {
    const h = request.headers;
    const copySource = h['x-amz-copy-source'];
    if (typeof copySource === 'string' && String(h['x-amz-tagging-directive'] ?? 'COPY') !== 'REPLACE') {
      const from = parseCopySource(copySource);
      return { ...((from && objectOf(from.bucket, from.key, from.versionId)?.tags) ?? {}) };
    }
    return headerTags(h['x-amz-tagging']);
  };

  // Tag sets survive a restart with the objects (local/emulator-object-fields.ts).
  const saveTags = installWriteField(store, current, {
    table: 's3dr_tags',
    field: 'tags',
    isSet: (tags) => Boolean(tags && Object.keys(tags).length > 0),
    forPut: (request) => (request ? tagsForWrite(request) : {}),
    forUpload: (request) => headerTags(request?.headers['x-amz-tagging']),
  });
  /** Saves the tags of the object a tagging request changed: the key's current object or a version. */
  const saveVersionTags = (bucket: string, key: string, obj: TaggableObject & { key?: string }) => {
    if (store.buckets.get(bucket)?.get(key) === obj) saveTags(bucket, { ...obj, key });
    // A noncurrent version lives in the versions bucket under its own storage key.
    else if (obj.key !== undefined) saveTags(VERSIONS_BUCKET, { ...obj, key: obj.key });
  };

  app.addHook('preHandler', (request, reply, done) => {
    const params = request.params as { bucket?: string; '*'?: string };
    const bucket = params.bucket ?? '';
    const key = params['*'] ?? '';
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (key === '' || !('tagging' in query)) {
      const stored = key === '' ? undefined : objectOf(bucket, key);
      const count = Object.keys(stored?.tags ?? {}).length;
      // S3 reports the size of the tag set on GET and HEAD, and leaves the header out when it is empty.
      if ((request.method === 'GET' || request.method === 'HEAD') && count > 0) {
        void reply.header('x-amz-tagging-count', String(count));
      }
      current.run(request, done);
      return;
    }
    const versionId = typeof query.versionId === 'string' ? query.versionId : undefined;
    const stored = objectOf(bucket, key, versionId);
    if (!stored) return s3Error(reply, 404, 'NoSuchKey', 'The specified key does not exist.');
    if (versionId !== undefined) void reply.header('x-amz-version-id', versionId);
    answerTagging(request, reply, stored, (eventName) => {
      saveVersionTags(bucket, key, stored);
      emit({ eventName, bucket, key, etag: stored.etag.replaceAll('"', ''), time: new Date() });
    });
  });
}
