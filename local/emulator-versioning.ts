/**
 * S3 Versioning for the embedded emulator. fauxqs 2.4.1 accepts PutBucketVersioning and versions nothing;
 * s3-dr's DR bucket is versioned on AWS (docs/design.md, invariant 2), and `mirror` deletes, delete markers
 * and `asOf` / `includeDeleted` restores only mean something on a versioned bucket. This module gives the
 * emulator what S3 documents and s3-dr relies on (User Guide: "Using versioning in S3 buckets", "Working
 * with delete markers", "Deleting object versions"; API reference: PutBucketVersioning,
 * GetBucketVersioning, ListObjectVersions, GetObject, HeadObject, CopyObject, DeleteObject, DeleteObjects):
 *
 * - `PUT /bucket?versioning` (Status Enabled) and `GET /bucket?versioning`. Suspended versioning is not
 *   supported (501 NotImplemented): s3-dr never suspends it.
 * - every write to a versioned bucket (PutObject, PostObject, CopyObject, CompleteMultipartUpload) keeps
 *   the object it replaces as a noncurrent version and answers `x-amz-version-id`;
 * - GET / HEAD / GetObjectAttributes / tagging / CopySource / UploadPartCopy by `versionId`; a delete
 *   marker as the current version is a 404 with `x-amz-delete-marker: true`, and asking for a delete
 *   marker's version id is 405 MethodNotAllowed;
 * - DELETE without a version id adds a delete marker; with one, removes that version for good (and the
 *   next newest becomes current); DeleteObjects likewise, with `DeleteMarker` / `DeleteMarkerVersionId`;
 * - ListObjectVersions with versions and delete markers, keys in UTF-8 byte order, versions newest first,
 *   `key-marker` / `version-id-marker` paging and `encoding-type=url`.
 *
 * Where versions live: the current version stays where fauxqs keeps it (so every unversioned code path,
 * listing and conditional write is unchanged and costs nothing more). Noncurrent versions and delete
 * markers are ordinary fauxqs objects in one internal bucket, {@link VERSIONS_BUCKET}, which the S3 API
 * never exposes (every request naming it is refused), so fauxqs's own SQLite
 * persistence carries them across restarts with their bodies, and no second database is needed. A
 * bucket's versioning state is an object there too. A version id is derived from the version's
 * Last-Modified (kept strictly increasing per key), which fauxqs already persists: after a restart the
 * current version has the same id without a new column. Objects written before versioning was enabled
 * keep the version id `null`, as in S3.
 *
 * Tests: tests/integration/emulator-versioning.test.ts (and the contract suite it runs).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyApp } from './emulator.ts';
import { requestScope } from './emulator-request.ts';
import { s3Error, xml, xmlEscape, xmlUnescape } from './emulator-xml.ts';

/**
 * Reserved for the emulator: every request naming it (or copying from it) is refused as NoSuchBucket and
 * ListBuckets leaves it out. A valid bucket name, because fauxqs's persistence re-creates buckets through
 * its own name check when it loads.
 */
export const VERSIONS_BUCKET = 's3dr-emulator-versions';
const MARKER_TYPE = 'application/x-s3dr-delete-marker';
// Storage keys: `bucket/versionId/key` (neither a bucket name nor a version id here has a `/`; fauxqs's
// SQLite store cuts text at NUL, so no control character), and `.versioning/bucket` (no bucket name starts
// with `.`) for a bucket's versioning state.
const CONFIG_PREFIX = '.versioning/';
const SEP = '/';
const ABOVE_D800 = /[\ud800-\uffff]/;

export interface StoredObject {
  key: string;
  body: Buffer;
  contentType: string;
  contentLength: number;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  tags?: Record<string, string>;
  [field: string]: unknown;
}

interface Persistence {
  upsertObject(bucket: string, obj: StoredObject): void;
  deleteObject(bucket: string, key: string): void;
  insertBucket(name: string, creationDate: Date, type: string): void;
}

export interface VersionableStore {
  buckets: Map<string, Map<string, StoredObject>>;
  bucketCreationDates: Map<string, Date>;
  bucketTypes: Map<string, string>;
  persistence?: Persistence;
  putObject(...args: unknown[]): StoredObject;
  getObject(bucket: string, key: string): StoredObject;
  headObject(bucket: string, key: string): StoredObject;
  deleteObject(bucket: string, key: string, versionId?: string): DeleteResult | undefined;
  completeMultipartUpload(uploadId: string, parts: unknown): StoredObject;
  multipartUploads: Map<string, { bucket: string; key: string }>;
  listBuckets(): { name: string }[];
}

/** What a delete did, for its response headers and its event name. */
export interface DeleteResult {
  versionId?: string;
  deleteMarker: boolean;
  /** True when the delete added a delete marker (s3:ObjectRemoved:DeleteMarkerCreated). */
  markerCreated: boolean;
}

/** One noncurrent version or delete marker of a key. */
interface Entry {
  versionId: string;
  ms: number;
  deleteMarker: boolean;
  storageKey: string;
}

interface Context {
  reply: FastifyReply;
  bucket: string;
  key: string;
  versionId?: string;
  /** `x-amz-copy-source` as fauxqs reads it (the whole decoded header), and what it names. */
  copySource?: { raw: string; bucket: string; key: string; versionId?: string };
}

type S3ErrorClass = new (code: string, message: string, statusCode: number) => Error;

/** A version id for a version last modified at `ms` (opaque to clients; unique per key, see above). */
const versionIdAt = (ms: number) => `v${ms.toString(36).padStart(9, '0')}`;
const storageKeyOf = (bucket: string, versionId: string, key: string) =>
  `${bucket}${SEP}${versionId}${SEP}${key}`;

function parseStorageKey(storageKey: string): { bucket: string; versionId: string; key: string } {
  const a = storageKey.indexOf(SEP);
  const b = storageKey.indexOf(SEP, a + 1);
  return {
    bucket: storageKey.slice(0, a),
    versionId: storageKey.slice(a + 1, b),
    key: storageKey.slice(b + 1),
  };
}

/** `x-amz-copy-source`: `bucket/key` URL-encoded, then an optional unencoded `?versionId=`. */
function parseCopySource(header: string): Context['copySource'] {
  const [path = '', query = ''] = header.split('?', 2);
  const versionId = new URLSearchParams(query).get('versionId') ?? undefined;
  const decoded = decodeURIComponent(path).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  if (slash < 0) return undefined;
  return {
    raw: decodeURIComponent(header)
      .replace(/^\//, '')
      .slice(slash + 1),
    bucket: decoded.slice(0, slash),
    key: decoded.slice(slash + 1),
    versionId,
  };
}

export interface Versioning {
  /** The ListObjectVersions answer (body of the XML document) for a bucket. */
  listing(bucket: string, q: URLSearchParams, encode: (k: string) => string, encodingElement: string): string;
  /** The stored object of one version (for tagging by version id), or undefined. */
  objectAt(bucket: string, key: string, versionId: string): StoredObject | undefined;
  /** The version id of the current object of a key (`null` when the bucket is not versioned). */
  currentVersionId(bucket: string, key: string): string | undefined;
}

/**
 * Installs versioning on a fauxqs app and its S3 store (after tagging, before the wrappers that emit
 * events, so an event sees the version it announces). Call after persistence has loaded the store.
 */
export function installVersioning(
  app: FastifyApp,
  store: VersionableStore,
  S3Error: S3ErrorClass,
  compareUtf8: (a: string, b: string) => number,
): Versioning {
  const context = requestScope<Context>();
  if (!store.buckets.has(VERSIONS_BUCKET)) {
    const now = new Date();
    store.buckets.set(VERSIONS_BUCKET, new Map());
    store.bucketCreationDates.set(VERSIONS_BUCKET, now);
    store.bucketTypes.set(VERSIONS_BUCKET, 'general-purpose');
    store.persistence?.insertBucket(VERSIONS_BUCKET, now, 'general-purpose');
  }
  const internal = store.buckets.get(VERSIONS_BUCKET) as Map<string, StoredObject>;
  /** Versioned buckets: the time versioning was enabled (objects older than that are version `null`). */
  const enabledSince = new Map<string, number>();
  /** Noncurrent versions and delete markers per bucket and key, newest first. */
  const index = new Map<string, Map<string, Entry[]>>();

  const none: readonly Entry[] = [];
  /** The key's noncurrent versions and delete markers, newest first (read only). */
  const entriesOf = (bucket: string, key: string): readonly Entry[] => index.get(bucket)?.get(key) ?? none;
  const addEntry = (bucket: string, key: string, entry: Entry) => {
    const keys = index.get(bucket) ?? new Map<string, Entry[]>();
    index.set(bucket, keys);
    const entries = keys.get(key) ?? [];
    keys.set(key, entries);
    const at = entries.findIndex((e) => e.ms < entry.ms);
    entries.splice(at < 0 ? entries.length : at, 0, entry);
  };
  const dropEntry = (bucket: string, key: string, entry: Entry) => {
    const keys = index.get(bucket);
    const entries = keys?.get(key);
    if (!keys || !entries) return;
    entries.splice(entries.indexOf(entry), 1);
    if (entries.length === 0) keys.delete(key);
  };

  for (const [storageKey, obj] of internal) {
    if (storageKey.startsWith(CONFIG_PREFIX)) {
      enabledSince.set(storageKey.slice(CONFIG_PREFIX.length), Number(obj.metadata.since));
      continue;
    }
    const { bucket, versionId, key } = parseStorageKey(storageKey);
    addEntry(bucket, key, {
      versionId,
      ms: obj.lastModified.getTime(),
      deleteMarker: obj.contentType === MARKER_TYPE,
      storageKey,
    });
  }

  const getObject = store.getObject.bind(store);
  const headObject = store.headObject.bind(store);
  const writeInternal = (storageKey: string, obj: StoredObject) => {
    const stored = { ...obj, key: storageKey };
    store.persistence?.upsertObject(VERSIONS_BUCKET, stored);
    // As fauxqs does with persistence: metadata in memory, the body read from SQLite on demand.
    internal.set(storageKey, store.persistence ? { ...stored, body: Buffer.alloc(0) } : stored);
  };
  const removeInternal = (storageKey: string) => {
    internal.delete(storageKey);
    store.persistence?.deleteObject(VERSIONS_BUCKET, storageKey);
  };

  const idOf = (bucket: string, obj: StoredObject): string => {
    const since = enabledSince.get(bucket);
    const ms = obj.lastModified.getTime();
    return since !== undefined && ms >= since ? versionIdAt(ms) : 'null';
  };
  const currentOf = (bucket: string, key: string) => store.buckets.get(bucket)?.get(key);

  /** Moves the current object of a key (if any) among its noncurrent versions, before it is replaced. */
  const keepCurrent = (bucket: string, key: string) => {
    const current = currentOf(bucket, key);
    if (!current) return;
    const versionId = idOf(bucket, current);
    const storageKey = storageKeyOf(bucket, versionId, key);
    // A `null` version is replaced, not kept, by the next `null` version (S3 keeps one per key).
    const existing = entriesOf(bucket, key).find((e) => e.versionId === versionId);
    if (existing) dropEntry(bucket, key, existing);
    writeInternal(storageKey, { ...getObject(bucket, key), tags: current.tags });
    addEntry(bucket, key, {
      versionId,
      ms: current.lastModified.getTime(),
      deleteMarker: false,
      storageKey,
    });
  };

  /** The earliest Last-Modified a new version of the key may have, so its id is new and newest. */
  const nextMs = (bucket: string, key: string) =>
    Math.max(enabledSince.get(bucket) ?? 0, (entriesOf(bucket, key)[0]?.ms ?? -1) + 1);

  /** After a write to a versioned bucket: a unique id for the new current version, in the response. */
  const stamp = (bucket: string, key: string, written: StoredObject): string => {
    const stored = currentOf(bucket, key);
    const min = nextMs(bucket, key);
    if (stored && stored.lastModified.getTime() < min) {
      // Two versions of one key in the same millisecond: move the newer one on by a millisecond.
      const lastModified = new Date(min);
      stored.lastModified = lastModified;
      written.lastModified = lastModified;
      store.persistence?.upsertObject(bucket, { ...written, key });
    }
    const versionId = stored ? idOf(bucket, stored) : 'null';
    void context.get()?.reply.header('x-amz-version-id', versionId);
    return versionId;
  };

  /** Makes the newest noncurrent version current again, unless it is a delete marker (it stays current). */
  const promoteNewest = (bucket: string, key: string) => {
    const newest = entriesOf(bucket, key)[0];
    if (!newest || newest.deleteMarker || currentOf(bucket, key)) return;
    const full = { ...getObject(VERSIONS_BUCKET, newest.storageKey), key };
    const tags = internal.get(newest.storageKey)?.tags;
    store.persistence?.upsertObject(bucket, full);
    store.buckets
      .get(bucket)
      ?.set(key, store.persistence ? { ...full, body: Buffer.alloc(0), tags } : { ...full, tags });
    removeInternal(newest.storageKey);
    dropEntry(bucket, key, newest);
  };

  const versionEntry = (bucket: string, key: string, versionId: string) =>
    index
      .get(bucket)
      ?.get(key)
      ?.find((e) => e.versionId === versionId);

  /** Reads one version of a key: the current object, or a noncurrent one; errors as S3 answers them. */
  const readVersion = (
    bucket: string,
    key: string,
    versionId: string,
    read: (bucket: string, key: string) => StoredObject,
  ): StoredObject => {
    const reply = context.get()?.reply;
    const current = currentOf(bucket, key);
    if (current && idOf(bucket, current) === versionId) {
      void reply?.header('x-amz-version-id', versionId);
      return read(bucket, key);
    }
    const entry = versionEntry(bucket, key, versionId);
    if (!entry) {
      if (!store.buckets.has(bucket)) read(bucket, key); // NoSuchBucket, as fauxqs words it
      throw new S3Error('NoSuchVersion', 'The specified version does not exist.', 404);
    }
    void reply?.header('x-amz-version-id', versionId);
    if (entry.deleteMarker) {
      // GetObject / HeadObject: a version that is a delete marker is 405, with its Last-Modified.
      void reply?.header('x-amz-delete-marker', 'true');
      void reply?.header('last-modified', new Date(entry.ms).toUTCString());
      throw new S3Error(
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
        405,
      );
    }
    return { ...read(VERSIONS_BUCKET, entry.storageKey), key };
  };

  /** What a read in this request is for: a version id from the query or from the copy source. */
  const wantedVersion = (bucket: string, key: string) => {
    const ctx = context.get();
    if (!ctx) return { key };
    const cs = ctx.copySource;
    if (cs && bucket === cs.bucket && key === cs.raw) return { key: cs.key, versionId: cs.versionId };
    if (bucket === ctx.bucket && key === ctx.key) return { key, versionId: ctx.versionId };
    return { key };
  };

  const readWith =
    (read: (bucket: string, key: string) => StoredObject) =>
    (bucket: string, rawKey: string): StoredObject => {
      const { key, versionId } = wantedVersion(bucket, rawKey);
      const ctx = context.get();
      if (versionId !== undefined) {
        const obj = readVersion(bucket, key, versionId, read);
        if (ctx?.copySource && bucket === ctx.copySource.bucket && key === ctx.copySource.key)
          void ctx.reply.header('x-amz-copy-source-version-id', versionId);
        return obj;
      }
      const current = currentOf(bucket, key);
      if (!current && enabledSince.has(bucket) && ctx && !ctx.copySource) {
        const newest = index.get(bucket)?.get(key)?.[0];
        // A delete marker is the current version: 404 that says so (User Guide, "Working with delete markers").
        if (newest?.deleteMarker) {
          void ctx.reply.header('x-amz-delete-marker', 'true');
          void ctx.reply.header('x-amz-version-id', newest.versionId);
        }
      }
      const obj = read(bucket, key);
      if (ctx && current && enabledSince.has(bucket)) {
        const id = idOf(bucket, current);
        if (ctx.copySource && bucket === ctx.copySource.bucket)
          void ctx.reply.header('x-amz-copy-source-version-id', id);
        else void ctx.reply.header('x-amz-version-id', id);
      }
      return obj;
    };
  store.getObject = readWith(getObject);
  store.headObject = readWith(headObject);

  const putObject = store.putObject.bind(store);
  store.putObject = (...args: unknown[]) => {
    const bucket = String(args[0]);
    const key = String(args[1]);
    if (!enabledSince.has(bucket)) return putObject(...args);
    keepCurrent(bucket, key);
    const obj = putObject(...args);
    stamp(bucket, key, obj);
    return obj;
  };
  const complete = store.completeMultipartUpload.bind(store);
  store.completeMultipartUpload = (uploadId: string, parts: unknown) => {
    const upload = store.multipartUploads.get(uploadId);
    if (!upload || !enabledSince.has(upload.bucket)) return complete(uploadId, parts);
    keepCurrent(upload.bucket, upload.key);
    const obj = complete(uploadId, parts);
    stamp(upload.bucket, upload.key, obj);
    return obj;
  };

  const deleteObject = store.deleteObject.bind(store);
  const deleteVersion = (bucket: string, key: string, versionId: string | undefined): DeleteResult => {
    if (!enabledSince.has(bucket)) {
      // Unversioned: only the `null` version exists; deleting it is deleting the object.
      if (versionId === undefined || versionId === 'null') deleteObject(bucket, key);
      return { deleteMarker: false, markerCreated: false };
    }
    if (!store.buckets.has(bucket)) deleteObject(bucket, key); // NoSuchBucket
    if (versionId === undefined) {
      // "Deleting objects from versioning-enabled buckets": a delete marker becomes the current version.
      const ms = Math.max(
        Date.now(),
        nextMs(bucket, key),
        (currentOf(bucket, key)?.lastModified.getTime() ?? -1) + 1,
      );
      keepCurrent(bucket, key);
      if (currentOf(bucket, key)) deleteObject(bucket, key);
      const markerId = versionIdAt(ms);
      const storageKey = storageKeyOf(bucket, markerId, key);
      writeInternal(storageKey, {
        key: storageKey,
        body: Buffer.alloc(0),
        contentType: MARKER_TYPE,
        contentLength: 0,
        etag: '""',
        lastModified: new Date(ms),
        metadata: {},
      });
      addEntry(bucket, key, { versionId: markerId, ms, deleteMarker: true, storageKey });
      return { versionId: markerId, deleteMarker: true, markerCreated: true };
    }
    const current = currentOf(bucket, key);
    if (current && idOf(bucket, current) === versionId) {
      deleteObject(bucket, key);
      promoteNewest(bucket, key);
      return { versionId, deleteMarker: false, markerCreated: false };
    }
    const entry = versionEntry(bucket, key, versionId);
    if (!entry) return { versionId, deleteMarker: false, markerCreated: false };
    const wasNewest = entriesOf(bucket, key)[0] === entry;
    removeInternal(entry.storageKey);
    dropEntry(bucket, key, entry);
    if (wasNewest && !current) promoteNewest(bucket, key);
    return { versionId, deleteMarker: entry.deleteMarker, markerCreated: false };
  };
  store.deleteObject = (bucket: string, key: string, versionId?: string) => {
    const ctx = context.get();
    const wanted = versionId ?? (ctx && ctx.bucket === bucket && ctx.key === key ? ctx.versionId : undefined);
    const result = deleteVersion(bucket, key, wanted);
    if (ctx && ctx.key !== '') {
      if (result.versionId !== undefined) void ctx.reply.header('x-amz-version-id', result.versionId);
      if (result.deleteMarker) void ctx.reply.header('x-amz-delete-marker', 'true');
    }
    return result;
  };

  const listBuckets = store.listBuckets.bind(store);
  store.listBuckets = () => listBuckets().filter((b) => b.name !== VERSIONS_BUCKET);

  const bodyText = (request: FastifyRequest) =>
    Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');

  const bucketVersioning = (request: FastifyRequest, reply: FastifyReply, bucket: string) => {
    if (!store.buckets.has(bucket))
      return s3Error(reply, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (request.method === 'GET') {
      const status = enabledSince.has(bucket) ? '<Status>Enabled</Status>' : '';
      return void reply
        .code(200)
        .header('content-type', 'application/xml')
        .send(
          xml(
            `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${status}</VersioningConfiguration>`,
          ),
        );
    }
    const status = /<Status>\s*([^<]*?)\s*<\/Status>/.exec(bodyText(request))?.[1];
    if (status === 'Suspended') {
      return s3Error(reply, 501, 'NotImplemented', 'The local emulator does not suspend versioning');
    }
    if (status !== 'Enabled')
      return s3Error(reply, 400, 'MalformedXML', 'The XML you provided was not well-formed.');
    if (!enabledSince.has(bucket)) {
      // Objects written before now keep version id `null`; later writes are stamped at or after it.
      let since = Date.now();
      for (const obj of store.buckets.get(bucket)?.values() ?? [])
        since = Math.max(since, obj.lastModified.getTime() + 1);
      const storageKey = `${CONFIG_PREFIX}${bucket}`;
      writeInternal(storageKey, {
        key: storageKey,
        body: Buffer.alloc(0),
        contentType: 'application/json',
        contentLength: 0,
        etag: '""',
        lastModified: new Date(since),
        metadata: { status: 'Enabled', since: String(since) },
      });
      enabledSince.set(bucket, since);
    }
    return void reply.code(200).send();
  };

  /** DeleteObjects on a versioned bucket: per-object version ids and delete markers in the answer. */
  const deleteObjects = (request: FastifyRequest, reply: FastifyReply, bucket: string) => {
    const body = bodyText(request);
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const results: string[] = [];
    for (const m of body.matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
      const inner = m[1] ?? '';
      const key = xmlUnescape(/<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1] ?? '');
      const raw = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(inner)?.[1];
      const versionId = raw === undefined ? undefined : xmlUnescape(raw);
      const r = store.deleteObject(bucket, key, versionId) ?? { deleteMarker: false, markerCreated: false };
      if (quiet) continue;
      const version = versionId !== undefined ? `<VersionId>${xmlEscape(versionId)}</VersionId>` : '';
      const marker = r.deleteMarker
        ? // DeletedObject: the id of the marker added, or of the marker removed by a delete by version id.
          `<DeleteMarker>true</DeleteMarker>${r.versionId ? `<DeleteMarkerVersionId>${xmlEscape(r.versionId)}</DeleteMarkerVersionId>` : ''}`
        : '';
      results.push(`<Deleted><Key>${xmlEscape(key)}</Key>${version}${marker}</Deleted>`);
    }
    void reply
      .code(200)
      .header('content-type', 'application/xml')
      .send(
        xml(
          `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${results.join('')}</DeleteResult>`,
        ),
      );
  };

  // The internal bucket is not part of the S3 API: refuse any request that names it, as a copy source too.
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?', 1)[0] ?? '';
    const copySource = String(request.headers['x-amz-copy-source'] ?? '');
    const named = (p: string) => decodeURIComponent(p.replace(/^\//, '').split('/', 1)[0] ?? '');
    if (named(path) !== VERSIONS_BUCKET && named(copySource.split('?', 1)[0] ?? '') !== VERSIONS_BUCKET)
      return done();
    s3Error(reply, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  });

  app.addHook('preHandler', (request, reply, done) => {
    const params = (request.params ?? {}) as { bucket?: string; '*'?: string };
    const bucket = params.bucket ?? '';
    const key = params['*'] ?? '';
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (
      bucket !== '' &&
      key === '' &&
      'versioning' in query &&
      (request.method === 'GET' || request.method === 'PUT')
    )
      return bucketVersioning(request, reply, bucket);
    if (
      bucket !== '' &&
      key === '' &&
      request.method === 'POST' &&
      'delete' in query &&
      enabledSince.has(bucket)
    )
      return deleteObjects(request, reply, bucket);
    const header = request.headers['x-amz-copy-source'];
    context.run(
      {
        reply,
        bucket,
        key,
        versionId: typeof query.versionId === 'string' ? query.versionId : undefined,
        copySource: typeof header === 'string' ? parseCopySource(header) : undefined,
      },
      done,
    );
  });

  const listing: Versioning['listing'] = (bucket, q, encode, encodingElement) => {
    const prefix = q.get('prefix') ?? '';
    const keyMarker = q.get('key-marker') ?? '';
    const versionIdMarker = q.get('version-id-marker') ?? '';
    const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000) || 1000, 1000);
    const objects = store.buckets.get(bucket);
    if (!objects) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
    const keys = new Set<string>();
    for (const key of objects.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of index.get(bucket)?.keys() ?? []) if (key.startsWith(prefix)) keys.add(key);
    const after = [...keys].filter((k) => keyMarker === '' || compareUtf8(k, keyMarker) >= 0);
    // As fauxqs's own listing does: the engine's string order is UTF-8 order unless a key holds a
    // character at or above U+D800, and much cheaper than comparing code points.
    const sorted = after.some((k) => ABOVE_D800.test(k))
      ? after.sort(compareUtf8)
      : after.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const items: string[] = [];
    let last: { key: string; versionId: string } | undefined;
    let truncated = false;
    outer: for (const key of sorted) {
      const current = objects.get(key);
      const versions: { versionId: string; obj?: StoredObject; entry?: Entry }[] = [];
      if (current) versions.push({ versionId: idOf(bucket, current), obj: current });
      for (const entry of index.get(bucket)?.get(key) ?? [])
        versions.push({ versionId: entry.versionId, entry });
      let start = 0;
      if (key === keyMarker) {
        // A key marker alone resumes after the key; with a version id marker, after that version.
        if (versionIdMarker === '') continue;
        start = versions.findIndex((v) => v.versionId === versionIdMarker) + 1;
        if (start === 0) continue;
      }
      for (let i = start; i < versions.length; i++) {
        const v = versions[i] as (typeof versions)[number];
        if (items.length >= maxKeys) {
          truncated = true;
          break outer;
        }
        const latest = i === 0 ? 'true' : 'false';
        const k = `<Key>${xmlEscape(encode(key))}</Key><VersionId>${xmlEscape(v.versionId)}</VersionId><IsLatest>${latest}</IsLatest>`;
        if (v.entry?.deleteMarker) {
          items.push(
            `<DeleteMarker>${k}<LastModified>${new Date(v.entry.ms).toISOString()}</LastModified></DeleteMarker>`,
          );
        } else {
          const obj = v.obj ?? (internal.get(v.entry?.storageKey ?? '') as StoredObject);
          items.push(
            `<Version>${k}<LastModified>${obj.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(obj.etag)}</ETag><Size>${obj.contentLength}</Size><StorageClass>${(obj as { storageClass?: string }).storageClass ?? 'STANDARD'}</StorageClass></Version>`,
          );
        }
        last = { key, versionId: v.versionId };
      }
    }
    return `<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(encode(prefix))}</Prefix><KeyMarker>${xmlEscape(encode(keyMarker))}</KeyMarker><VersionIdMarker>${xmlEscape(versionIdMarker)}</VersionIdMarker>${
      truncated && last
        ? `<NextKeyMarker>${xmlEscape(encode(last.key))}</NextKeyMarker><NextVersionIdMarker>${xmlEscape(last.versionId)}</NextVersionIdMarker>`
        : ''
    }<MaxKeys>${maxKeys}</MaxKeys>${encodingElement}<IsTruncated>${truncated}</IsTruncated>${items.join('')}</ListVersionsResult>`;
  };

  return {
    listing,
    objectAt(bucket, key, versionId) {
      const current = currentOf(bucket, key);
      if (current && idOf(bucket, current) === versionId) return current;
      const entry = versionEntry(bucket, key, versionId);
      return entry && !entry.deleteMarker ? internal.get(entry.storageKey) : undefined;
    },
    currentVersionId(bucket, key) {
      const current = currentOf(bucket, key);
      return current && enabledSince.has(bucket) ? idOf(bucket, current) : undefined;
    },
  };
}
