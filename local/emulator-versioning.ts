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
import { type RequestScope, requestScope } from './emulator-request.ts';
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

/**
 * `x-amz-copy-source`: `bucket/key` URL-encoded, then an optional unencoded `?versionId=`; decoded as
 * fauxqs decodes it (`raw`: the whole decoded key, query included, as fauxqs reads it from the store).
 */
export function parseCopySource(header: string): Context['copySource'] {
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
 * What versioning keeps beside fauxqs's store — which buckets are versioned since when, and each key's
 * noncurrent versions and delete markers (objects of {@link VERSIONS_BUCKET}, indexed) — and the moves
 * between current and noncurrent that writes and deletes make. Built from the internal bucket, so it
 * holds after a restart whatever fauxqs's persistence loaded.
 */
class VersionIndex {
  readonly store: VersionableStore;
  readonly internal: Map<string, StoredObject>;
  /** Versioned buckets: the time versioning was enabled (objects older than that are version `null`). */
  readonly enabledSince = new Map<string, number>();
  /** Noncurrent versions and delete markers per bucket and key, newest first. */
  private readonly index = new Map<string, Map<string, Entry[]>>();
  /** fauxqs's own reads and delete, before the wrappers below replace them on the store. */
  readonly getObject: VersionableStore['getObject'];
  readonly headObject: VersionableStore['headObject'];
  readonly deleteObject: VersionableStore['deleteObject'];

  constructor(store: VersionableStore) {
    this.store = store;
    if (!store.buckets.has(VERSIONS_BUCKET)) {
      const now = new Date();
      store.buckets.set(VERSIONS_BUCKET, new Map());
      store.bucketCreationDates.set(VERSIONS_BUCKET, now);
      store.bucketTypes.set(VERSIONS_BUCKET, 'general-purpose');
      store.persistence?.insertBucket(VERSIONS_BUCKET, now, 'general-purpose');
    }
    this.internal = store.buckets.get(VERSIONS_BUCKET) as Map<string, StoredObject>;
    this.getObject = store.getObject.bind(store);
    this.headObject = store.headObject.bind(store);
    this.deleteObject = store.deleteObject.bind(store);
    for (const [storageKey, obj] of this.internal) {
      if (storageKey.startsWith(CONFIG_PREFIX)) {
        this.enabledSince.set(storageKey.slice(CONFIG_PREFIX.length), Number(obj.metadata.since));
        continue;
      }
      const { bucket, versionId, key } = parseStorageKey(storageKey);
      this.addEntry(bucket, key, {
        versionId,
        ms: obj.lastModified.getTime(),
        deleteMarker: obj.contentType === MARKER_TYPE,
        storageKey,
      });
    }
  }

  /** The key's noncurrent versions and delete markers, newest first (read only). */
  entriesOf(bucket: string, key: string): readonly Entry[] {
    return this.index.get(bucket)?.get(key) ?? NO_ENTRIES;
  }

  /** The keys of a bucket that have noncurrent versions or delete markers. */
  keysWithEntries(bucket: string): Iterable<string> {
    return this.index.get(bucket)?.keys() ?? [];
  }

  versionEntry(bucket: string, key: string, versionId: string): Entry | undefined {
    return this.entriesOf(bucket, key).find((e) => e.versionId === versionId);
  }

  addEntry(bucket: string, key: string, entry: Entry): void {
    const keys = this.index.get(bucket) ?? new Map<string, Entry[]>();
    this.index.set(bucket, keys);
    const entries = keys.get(key) ?? [];
    keys.set(key, entries);
    const at = entries.findIndex((e) => e.ms < entry.ms);
    entries.splice(at < 0 ? entries.length : at, 0, entry);
  }

  dropEntry(bucket: string, key: string, entry: Entry): void {
    const keys = this.index.get(bucket);
    const entries = keys?.get(key);
    if (!keys || !entries) return;
    entries.splice(entries.indexOf(entry), 1);
    if (entries.length === 0) keys.delete(key);
  }

  writeInternal(storageKey: string, obj: StoredObject): void {
    const stored = { ...obj, key: storageKey };
    this.store.persistence?.upsertObject(VERSIONS_BUCKET, stored);
    // As fauxqs does with persistence: metadata in memory, the body read from SQLite on demand.
    this.internal.set(storageKey, this.store.persistence ? { ...stored, body: Buffer.alloc(0) } : stored);
  }

  removeInternal(storageKey: string): void {
    this.internal.delete(storageKey);
    this.store.persistence?.deleteObject(VERSIONS_BUCKET, storageKey);
  }

  idOf(bucket: string, obj: StoredObject): string {
    const since = this.enabledSince.get(bucket);
    const ms = obj.lastModified.getTime();
    return since !== undefined && ms >= since ? versionIdAt(ms) : 'null';
  }

  currentOf(bucket: string, key: string): StoredObject | undefined {
    return this.store.buckets.get(bucket)?.get(key);
  }

  /** Moves the current object of a key (if any) among its noncurrent versions, before it is replaced. */
  keepCurrent(bucket: string, key: string): void {
    const current = this.currentOf(bucket, key);
    if (!current) return;
    const versionId = this.idOf(bucket, current);
    const storageKey = storageKeyOf(bucket, versionId, key);
    // A `null` version is replaced, not kept, by the next `null` version (S3 keeps one per key).
    const existing = this.versionEntry(bucket, key, versionId);
    if (existing) this.dropEntry(bucket, key, existing);
    this.writeInternal(storageKey, { ...this.getObject(bucket, key), tags: current.tags });
    this.addEntry(bucket, key, {
      versionId,
      ms: current.lastModified.getTime(),
      deleteMarker: false,
      storageKey,
    });
  }

  /** The earliest Last-Modified a new version of the key may have, so its id is new and newest. */
  nextMs(bucket: string, key: string): number {
    return Math.max(this.enabledSince.get(bucket) ?? 0, (this.entriesOf(bucket, key)[0]?.ms ?? -1) + 1);
  }

  /** After a write to a versioned bucket: a unique id for the new current version. */
  stamp(bucket: string, key: string, written: StoredObject): string {
    const stored = this.currentOf(bucket, key);
    const min = this.nextMs(bucket, key);
    if (stored && stored.lastModified.getTime() < min) {
      // Two versions of one key in the same millisecond: move the newer one on by a millisecond.
      const lastModified = new Date(min);
      stored.lastModified = lastModified;
      written.lastModified = lastModified;
      this.store.persistence?.upsertObject(bucket, { ...written, key });
    }
    return stored ? this.idOf(bucket, stored) : 'null';
  }

  /** Makes the newest noncurrent version current again, unless it is a delete marker (it stays current). */
  promoteNewest(bucket: string, key: string): void {
    const newest = this.entriesOf(bucket, key)[0];
    if (!newest || newest.deleteMarker || this.currentOf(bucket, key)) return;
    const full = { ...this.getObject(VERSIONS_BUCKET, newest.storageKey), key };
    const tags = this.internal.get(newest.storageKey)?.tags;
    this.store.persistence?.upsertObject(bucket, full);
    this.store.buckets
      .get(bucket)
      ?.set(key, this.store.persistence ? { ...full, body: Buffer.alloc(0), tags } : { ...full, tags });
    this.removeInternal(newest.storageKey);
    this.dropEntry(bucket, key, newest);
  }

  /** "Deleting objects from versioning-enabled buckets": a delete marker becomes the current version. */
  addDeleteMarker(bucket: string, key: string): DeleteResult {
    const ms = Math.max(
      Date.now(),
      this.nextMs(bucket, key),
      (this.currentOf(bucket, key)?.lastModified.getTime() ?? -1) + 1,
    );
    this.keepCurrent(bucket, key);
    if (this.currentOf(bucket, key)) this.deleteObject(bucket, key);
    const markerId = versionIdAt(ms);
    const storageKey = storageKeyOf(bucket, markerId, key);
    this.writeInternal(storageKey, {
      key: storageKey,
      body: Buffer.alloc(0),
      contentType: MARKER_TYPE,
      contentLength: 0,
      etag: '""',
      lastModified: new Date(ms),
      metadata: {},
    });
    this.addEntry(bucket, key, { versionId: markerId, ms, deleteMarker: true, storageKey });
    return { versionId: markerId, deleteMarker: true, markerCreated: true };
  }

  /** Deletes one version of a key (or, without a version id on a versioned bucket, adds a delete marker). */
  deleteVersion(bucket: string, key: string, versionId: string | undefined): DeleteResult {
    if (!this.enabledSince.has(bucket)) {
      // Unversioned: only the `null` version exists; deleting it is deleting the object.
      if (versionId === undefined || versionId === 'null') this.deleteObject(bucket, key);
      return { deleteMarker: false, markerCreated: false };
    }
    if (!this.store.buckets.has(bucket)) this.deleteObject(bucket, key); // NoSuchBucket
    if (versionId === undefined) return this.addDeleteMarker(bucket, key);
    const current = this.currentOf(bucket, key);
    if (current && this.idOf(bucket, current) === versionId) {
      this.deleteObject(bucket, key);
      this.promoteNewest(bucket, key);
      return { versionId, deleteMarker: false, markerCreated: false };
    }
    const entry = this.versionEntry(bucket, key, versionId);
    if (!entry) return { versionId, deleteMarker: false, markerCreated: false };
    const wasNewest = this.entriesOf(bucket, key)[0] === entry;
    this.removeInternal(entry.storageKey);
    this.dropEntry(bucket, key, entry);
    if (wasNewest && !current) this.promoteNewest(bucket, key);
    return { versionId, deleteMarker: entry.deleteMarker, markerCreated: false };
  }

  /** Turns versioning on for a bucket: objects written before now keep version id `null`. */
  enable(bucket: string): void {
    if (this.enabledSince.has(bucket)) return;
    // Later writes are stamped at or after `since`.
    let since = Date.now();
    for (const obj of this.store.buckets.get(bucket)?.values() ?? [])
      since = Math.max(since, obj.lastModified.getTime() + 1);
    const storageKey = `${CONFIG_PREFIX}${bucket}`;
    this.writeInternal(storageKey, {
      key: storageKey,
      body: Buffer.alloc(0),
      contentType: 'application/json',
      contentLength: 0,
      etag: '""',
      lastModified: new Date(since),
      metadata: { status: 'Enabled', since: String(since) },
    });
    this.enabledSince.set(bucket, since);
  }

  /** The stored object of one version, current or noncurrent; undefined for a delete marker. */
  objectAt(bucket: string, key: string, versionId: string): StoredObject | undefined {
    const current = this.currentOf(bucket, key);
    if (current && this.idOf(bucket, current) === versionId) return current;
    const entry = this.versionEntry(bucket, key, versionId);
    return entry && !entry.deleteMarker ? this.internal.get(entry.storageKey) : undefined;
  }
}

const NO_ENTRIES: readonly Entry[] = [];

/** Reads one version of a key: the current object, or a noncurrent one; errors as S3 answers them. */
function readVersion(
  versions: VersionIndex,
  reply: FastifyReply | undefined,
  S3Error: S3ErrorClass,
  at: { bucket: string; key: string; versionId: string },
  read: (bucket: string, key: string) => StoredObject,
): StoredObject {
  const { bucket, key, versionId } = at;
  const current = versions.currentOf(bucket, key);
  if (current && versions.idOf(bucket, current) === versionId) {
    void reply?.header('x-amz-version-id', versionId);
    return read(bucket, key);
  }
  const entry = versions.versionEntry(bucket, key, versionId);
  if (!entry) {
    if (!versions.store.buckets.has(bucket)) read(bucket, key); // NoSuchBucket, as fauxqs words it
    throw new S3Error('NoSuchVersion', 'The specified version does not exist.', 404);
  }
  void reply?.header('x-amz-version-id', versionId);
  if (entry.deleteMarker) {
    // GetObject / HeadObject: a version that is a delete marker is 405, with its Last-Modified.
    void reply?.header('x-amz-delete-marker', 'true');
    void reply?.header('last-modified', new Date(entry.ms).toUTCString());
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
  }
  return { ...read(VERSIONS_BUCKET, entry.storageKey), key };
}

/** What a read in this request is for: a version id from the query or from the copy source. */
function wantedVersion(ctx: Context | undefined, bucket: string, key: string) {
  if (!ctx) return { key };
  const cs = ctx.copySource;
  if (cs && bucket === cs.bucket && key === cs.raw) return { key: cs.key, versionId: cs.versionId };
  if (bucket === ctx.bucket && key === ctx.key) return { key, versionId: ctx.versionId };
  return { key };
}

/**
 * Wraps GetObject and HeadObject (and the copy source reads of CopyObject and UploadPartCopy): by
 * version id, with the version headers S3 answers, and a 404 that says a delete marker is current.
 */
function wrapReads(
  store: VersionableStore,
  versions: VersionIndex,
  context: RequestScope<Context>,
  S3Error: S3ErrorClass,
): void {
  const readWith =
    (read: (bucket: string, key: string) => StoredObject) =>
    (bucket: string, rawKey: string): StoredObject => {
      const ctx = context.get();
      const { key, versionId } = wantedVersion(ctx, bucket, rawKey);
      if (versionId !== undefined) {
        const obj = readVersion(versions, ctx?.reply, S3Error, { bucket, key, versionId }, read);
        if (ctx?.copySource && bucket === ctx.copySource.bucket && key === ctx.copySource.key)
          void ctx.reply.header('x-amz-copy-source-version-id', versionId);
        return obj;
      }
      const current = versions.currentOf(bucket, key);
      const versioned = versions.enabledSince.has(bucket);
      if (!current && versioned && ctx && !ctx.copySource) {
        const newest = versions.entriesOf(bucket, key)[0];
        // A delete marker is the current version: 404 that says so (User Guide, "Working with delete markers").
        if (newest?.deleteMarker) {
          void ctx.reply.header('x-amz-delete-marker', 'true');
          void ctx.reply.header('x-amz-version-id', newest.versionId);
        }
      }
      const obj = read(bucket, key);
      if (ctx && current && versioned) {
        const id = versions.idOf(bucket, current);
        if (ctx.copySource && bucket === ctx.copySource.bucket)
          void ctx.reply.header('x-amz-copy-source-version-id', id);
        else void ctx.reply.header('x-amz-version-id', id);
      }
      return obj;
    };
  store.getObject = readWith(versions.getObject);
  store.headObject = readWith(versions.headObject);
}

/**
 * Wraps the writes (PutObject, PostObject, CopyObject, CompleteMultipartUpload): on a versioned bucket
 * the replaced object is kept as a noncurrent version, and the answer names the new version.
 */
function wrapWrites(store: VersionableStore, versions: VersionIndex, context: RequestScope<Context>): void {
  const stamp = (bucket: string, key: string, written: StoredObject) => {
    void context.get()?.reply.header('x-amz-version-id', versions.stamp(bucket, key, written));
  };
  const putObject = store.putObject.bind(store);
  store.putObject = (...args: unknown[]) => {
    const bucket = String(args[0]);
    const key = String(args[1]);
    if (!versions.enabledSince.has(bucket)) return putObject(...args);
    versions.keepCurrent(bucket, key);
    const obj = putObject(...args);
    stamp(bucket, key, obj);
    return obj;
  };
  const complete = store.completeMultipartUpload.bind(store);
  store.completeMultipartUpload = (uploadId: string, parts: unknown) => {
    const upload = store.multipartUploads.get(uploadId);
    if (!upload || !versions.enabledSince.has(upload.bucket)) return complete(uploadId, parts);
    versions.keepCurrent(upload.bucket, upload.key);
    const obj = complete(uploadId, parts);
    stamp(upload.bucket, upload.key, obj);
    return obj;
  };
}

/** Wraps DeleteObject: by version id (from the call or the request), with the headers S3 answers. */
function wrapDeletes(store: VersionableStore, versions: VersionIndex, context: RequestScope<Context>): void {
  store.deleteObject = (bucket: string, key: string, versionId?: string) => {
    const ctx = context.get();
    const wanted = versionId ?? (ctx && ctx.bucket === bucket && ctx.key === key ? ctx.versionId : undefined);
    const result = versions.deleteVersion(bucket, key, wanted);
    if (ctx && ctx.key !== '') {
      if (result.versionId !== undefined) void ctx.reply.header('x-amz-version-id', result.versionId);
      if (result.deleteMarker) void ctx.reply.header('x-amz-delete-marker', 'true');
    }
    return result;
  };
}

const bodyText = (request: FastifyRequest) =>
  Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');

/** GetBucketVersioning and PutBucketVersioning (Enabled only). */
function bucketVersioning(
  versions: VersionIndex,
  request: FastifyRequest,
  reply: FastifyReply,
  bucket: string,
) {
  if (!versions.store.buckets.has(bucket))
    return s3Error(reply, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  if (request.method === 'GET') {
    const status = versions.enabledSince.has(bucket) ? '<Status>Enabled</Status>' : '';
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
  versions.enable(bucket);
  return void reply.code(200).send();
}

/** DeleteObjects on a versioned bucket: per-object version ids and delete markers in the answer. */
function deleteObjects(
  store: VersionableStore,
  request: FastifyRequest,
  reply: FastifyReply,
  bucket: string,
): void {
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
      xml(`<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${results.join('')}</DeleteResult>`),
    );
}

/**
 * The request hooks: the internal bucket refused, bucket versioning and versioned DeleteObjects answered
 * here, and every other request's version id and copy source made known to the store calls it makes.
 */
function installHooks(
  app: FastifyApp,
  store: VersionableStore,
  versions: VersionIndex,
  context: RequestScope<Context>,
): void {
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
      return bucketVersioning(versions, request, reply, bucket);
    if (
      bucket !== '' &&
      key === '' &&
      request.method === 'POST' &&
      'delete' in query &&
      versions.enabledSince.has(bucket)
    )
      return deleteObjects(store, request, reply, bucket);
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
}

/** The ListObjectVersions answer (body of the XML document) for a bucket. */
function listVersions(
  versions: VersionIndex,
  compareUtf8: (a: string, b: string) => number,
  S3Error: S3ErrorClass,
  request: { bucket: string; q: URLSearchParams; encode: (k: string) => string; encodingElement: string },
): string {
  const { bucket, q, encode, encodingElement } = request;
  const prefix = q.get('prefix') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const versionIdMarker = q.get('version-id-marker') ?? '';
  const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000) || 1000, 1000);
  const objects = versions.store.buckets.get(bucket);
  if (!objects) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
  const keys = new Set<string>();
  for (const key of objects.keys()) if (key.startsWith(prefix)) keys.add(key);
  for (const key of versions.keysWithEntries(bucket)) if (key.startsWith(prefix)) keys.add(key);
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
    const listed: { versionId: string; obj?: StoredObject; entry?: Entry }[] = [];
    if (current) listed.push({ versionId: versions.idOf(bucket, current), obj: current });
    for (const entry of versions.entriesOf(bucket, key)) listed.push({ versionId: entry.versionId, entry });
    let start = 0;
    if (key === keyMarker) {
      // A key marker alone resumes after the key; with a version id marker, after that version.
      if (versionIdMarker === '') continue;
      start = listed.findIndex((v) => v.versionId === versionIdMarker) + 1;
      if (start === 0) continue;
    }
    for (let i = start; i < listed.length; i++) {
      const v = listed[i] as (typeof listed)[number];
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
        const obj = v.obj ?? (versions.internal.get(v.entry?.storageKey ?? '') as StoredObject);
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
  const versions = new VersionIndex(store);
  wrapReads(store, versions, context, S3Error);
  wrapWrites(store, versions, context);
  wrapDeletes(store, versions, context);
  const listBuckets = store.listBuckets.bind(store);
  store.listBuckets = () => listBuckets().filter((b) => b.name !== VERSIONS_BUCKET);
  installHooks(app, store, versions, context);
  return {
    listing: (bucket, q, encode, encodingElement) =>
      listVersions(versions, compareUtf8, S3Error, { bucket, q, encode, encodingElement }),
    objectAt: (bucket, key, versionId) => versions.objectAt(bucket, key, versionId),
    currentVersionId(bucket, key) {
      const current = versions.currentOf(bucket, key);
      return current && versions.enabledSince.has(bucket) ? versions.idOf(bucket, current) : undefined;
    },
  };
}
