/**
 * The embedded S3 + SQS emulator (fauxqs 2.4.1), with the one thing it lacks for s3-dr: S3 event
 * notifications. fauxqs is built from its own exported `buildApp` with stores we construct, so we can
 * observe every object write and delete at the store — whichever API made it (PutObject, CopyObject,
 * PostObject, CompleteMultipartUpload, DeleteObject, DeleteObjects) and whichever client sent it — and
 * name the event after the HTTP request that caused it, as S3 does.
 *
 * The store classes are not in fauxqs's export map; they are loaded from its `dist/` by path. fauxqs is
 * pinned to 2.4.1 exactly, and tests/integration fail loudly if this wiring stops producing events.
 */
import { buildApp } from 'fauxqs';
import { type RequestScope, requestScope } from './emulator-request.ts';
import { type ClassedObject, type ClassedStore, installStorageClasses } from './emulator-storage-class.ts';
import { installObjectTagging, type TaggableStore } from './emulator-tagging.ts';
import {
  type DeleteResult,
  installVersioning,
  VERSIONS_BUCKET,
  type VersionableStore,
  type Versioning,
} from './emulator-versioning.ts';
import { xml, xmlEscape } from './emulator-xml.ts';

export type FastifyApp = ReturnType<typeof buildApp>;

export type ObjectEventName =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Post'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload'
  | 'ObjectRemoved:Delete'
  | 'ObjectRemoved:DeleteMarkerCreated'
  | 'ObjectTagging:Put'
  | 'ObjectTagging:Delete';

export interface ObjectEvent {
  eventName: ObjectEventName;
  bucket: string;
  key: string;
  size?: number;
  etag?: string;
  /** Set on a versioned bucket: the version written, or the delete marker added. */
  versionId?: string;
  time: Date;
}

interface StoredObject {
  etag: string;
  contentLength: number;
}

interface S3StoreLike extends TaggableStore {
  listObjects(
    bucket: string,
    options: { prefix?: string; maxKeys?: number; startAfter?: string },
  ): {
    objects: { key: string; etag: string; contentLength: number; lastModified: Date }[];
    isTruncated: boolean;
  };
  putObject(...args: unknown[]): StoredObject;
  deleteObject(bucket: string, key: string, versionId?: string): DeleteResult | undefined;
  completeMultipartUpload(uploadId: string, parts: unknown): StoredObject;
  multipartUploads: Map<string, OpenUpload>;
}

interface OpenUpload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: Date;
  parts: Map<number, { partNumber: number; etag: string; body: Buffer; lastModified: Date }>;
}

/** Encodes a key for a listing requested with `encoding-type=url` (the fauxqs patch's encoder). */
type KeyEncoder = (value: string) => string;

/**
 * How a listing request asks for its keys: raw, or URL-encoded as S3 does for `encoding-type=url`
 * (an `<EncodingType>url</EncodingType>` element in the answer). Any other value is S3's 400.
 */
function listingEncoding(
  q: URLSearchParams,
  encodeListedKey: KeyEncoder,
): { encode: KeyEncoder; element: string } | { error: string } {
  const value = q.get('encoding-type');
  if (value === null) return { encode: (k) => k, element: '' };
  if (value !== 'url') {
    return {
      error: `<Error><Code>InvalidArgument</Code><Message>Invalid Encoding Method specified in Request</Message><ArgumentName>encoding-type</ArgumentName><ArgumentValue>${xmlEscape(value)}</ArgumentValue></Error>`,
    };
  }
  return { encode: encodeListedKey, element: '<EncodingType>url</EncodingType>' };
}

/**
 * A page of ListParts as S3 answers it (API Reference, ListParts): parts after `part-number-marker`, at most
 * `max-parts` (default and most 1,000); `IsTruncated` when more follow, and `NextPartNumberMarker` the last
 * part of the page, the marker of the next request.
 */
function listPartsResult(
  bucket: string,
  key: string,
  uploadId: string,
  upload: {
    parts: Map<number, { partNumber: number; lastModified: Date; etag: string; body: { length: number } }>;
  },
  q: URLSearchParams,
): string {
  const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
  const marker = Number(q.get('part-number-marker') ?? 0) || 0;
  const maxParts = Math.min(1000, Math.max(0, Number(q.get('max-parts') ?? 1000) || 1000));
  const after = [...upload.parts.values()]
    .filter((p) => p.partNumber > marker)
    .sort((a, b) => a.partNumber - b.partNumber);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  const next = page.at(-1)?.partNumber ?? marker;
  const parts = page
    .map(
      (p) =>
        `<Part><PartNumber>${p.partNumber}</PartNumber><LastModified>${p.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.body.length}</Size></Part>`,
    )
    .join('');
  return `<ListPartsResult ${ns}><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(uploadId)}</UploadId><PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker><MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${parts}</ListPartsResult>`;
}

/**
 * fauxqs 2.4.1 has no ListMultipartUploads (`GET /bucket?uploads` lists objects instead) and no ListParts
 * (`GET /bucket/key?uploadId=…` reads the object): without them an interrupted multipart copy could never
 * be resumed locally. Both are answered here from fauxqs's own upload store (uploads in one page; parts
 * paged by `part-number-marker` and `max-parts`, as S3 pages them),
 * and so is ListObjectVersions (by local/emulator-versioning.ts, for versioned and unversioned buckets).
 */
function multipartListing(
  method: string,
  url: string,
  store: S3StoreLike,
  encodeListedKey: KeyEncoder,
  versioning: Versioning,
): { status: number; body: string } | undefined {
  if (method !== 'GET') return undefined;
  const [path = '', query = ''] = url.split('?', 2);
  const q = new URLSearchParams(query);
  const [bucketPart = '', ...keyParts] = path.replace(/^\//, '').split('/');
  const bucket = decodeURIComponent(bucketPart);
  if (bucket === VERSIONS_BUCKET) return undefined; // refused by local/emulator-versioning.ts
  const key = keyParts.map(decodeURIComponent).join('/');
  const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
  if (key === '' && (q.has('uploads') || q.has('versions'))) {
    const encoding = listingEncoding(q, encodeListedKey);
    if ('error' in encoding) return { status: 400, body: xml(encoding.error) };
    const { encode, element } = encoding;
    const prefix = q.get('prefix') ?? '';
    if (q.has('versions')) {
      if (!store.buckets.has(bucket)) return undefined; // fauxqs answers NoSuchBucket
      return { status: 200, body: xml(versioning.listing(bucket, q, encode, element)) };
    }
    const uploads = [...store.multipartUploads.values()]
      .filter((u) => u.bucket === bucket && u.key.startsWith(prefix))
      .sort((a, b) =>
        a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime(),
      );
    return {
      status: 200,
      body: xml(
        `<ListMultipartUploadsResult ${ns}><Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${xmlEscape(encode(prefix))}</Prefix><MaxUploads>1000</MaxUploads>${element}<IsTruncated>false</IsTruncated>${uploads
          .map(
            (u) =>
              `<Upload><Key>${xmlEscape(encode(u.key))}</Key><UploadId>${xmlEscape(u.uploadId)}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
          )
          .join('')}</ListMultipartUploadsResult>`,
      ),
    };
  }
  const uploadId = q.get('uploadId');
  if (key !== '' && uploadId && !q.has('partNumber')) {
    const upload = store.multipartUploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      return {
        status: 404,
        body: xml(
          `<Error><Code>NoSuchUpload</Code><Message>The specified multipart upload does not exist.</Message><UploadId>${xmlEscape(uploadId)}</UploadId></Error>`,
        ),
      };
    }
    return { status: 200, body: xml(listPartsResult(bucket, key, uploadId, upload, q)) };
  }
  return undefined;
}

export interface Emulator {
  port: number;
  endpoint: string;
  /** Subscribes to object writes and deletes; returns an unsubscribe function. */
  onObjectEvent(listener: (event: ObjectEvent) => void): () => void;
  /** Counts of HTTP requests served, by S3 operation or SQS action (for benchmarks). */
  requestCounts(): Promise<Record<string, number>>;
  /**
   * CPU time the emulator's process has used (process.cpuUsage(), µs), so a benchmark can tell the
   * emulator's share of the CPU from the handlers'. In-process, it is the whole process's.
   */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  /**
   * Holds every S3 request (not SQS, not the status page) for `ms` before serving it: a benchmark's model
   * of real S3's latency, which the emulator, answering in microseconds, lacks (docs/performance.md).
   * Requests held when it changes are released at once. Resolves once the new value applies.
   */
  setS3LatencyMs(ms: number): Promise<void>;
  stop(): Promise<void>;
}

async function loadStoreClasses() {
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  const [
    { S3Store, compareUtf8 },
    { SqsStore },
    { SnsStore },
    { PersistenceManager },
    { encodeListedKey },
    { S3Error },
  ] = await Promise.all([
    import(new URL('s3/s3Store.js', dist).href),
    import(new URL('sqs/sqsStore.js', dist).href),
    import(new URL('sns/snsStore.js', dist).href),
    import(new URL('persistence.js', dist).href),
    // Added by patches/fauxqs+2.4.1.patch: one encoder for every listing the emulator serves.
    import(new URL('s3/actions/listObjects.js', dist).href),
    import(new URL('common/errors.js', dist).href),
  ]);
  if (typeof encodeListedKey !== 'function') {
    throw new Error(
      'fauxqs: listObjects.js exports no encodeListedKey; is patches/fauxqs+2.4.1.patch applied?',
    );
  }
  return {
    S3Store,
    SqsStore,
    SnsStore,
    PersistenceManager,
    encodeListedKey: encodeListedKey as KeyEncoder,
    S3Error: S3Error as S3ErrorClass,
    // Exported by patches/fauxqs+2.4.1.patch: S3's key order (UTF-8 bytes), shared with its listings.
    compareUtf8: compareUtf8 as (a: string, b: string) => number,
  };
}

interface Persistence {
  db: { exec(sql: string): void };
  load(sqs: unknown, sns: unknown, s3: unknown): void;
  close(): void;
}

/**
 * Keeps buckets, objects, queues and messages in fauxqs's own SQLite store under `dataDir`, wired the
 * way fauxqs's `startFauxqs` wires it (load first, then write every change through). Writes go to the
 * database before the request is answered, so a killed process loses nothing it acknowledged. WAL with
 * `synchronous = NORMAL` makes that hold against a crash of the process (not of the machine) without an
 * fsync per request, which would halve the local pipeline's throughput.
 */
function persist(
  dataDir: string,
  PersistenceManager: new (dir: string) => Persistence,
  stores: {
    s3Store: unknown;
    sqsStore: { allQueues(): { persistence?: unknown }[] } & object;
    snsStore: object;
  },
): Persistence {
  const persistence = new PersistenceManager(dataDir);
  persistence.db.exec('PRAGMA synchronous = NORMAL');
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  for (const store of [stores.s3Store, stores.sqsStore, stores.snsStore] as { persistence?: unknown }[]) {
    store.persistence = persistence;
  }
  for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  return persistence;
}

/** The local runtime's own pages (status), which a browser reads unsigned; `_` starts no bucket name. */
const OWN_PAGES = '/_s3dr/';

/**
 * Refuses what S3 (and SQS) refuse: a request to a private bucket must be signed with SigV4, in the
 * `Authorization` header or as a presigned URL's query parameters ("Authenticating Requests (AWS
 * Signature Version 4)", Amazon S3 API Reference). Credentials are not checked — any key works locally —
 * but an unsigned request, which is what a web page or a stray script can send, is refused. A request
 * from a web page (it carries an `Origin` other than the emulator's own) is refused too, signed or
 * not: no browser page may write through the emulator, and the emulator grants no CORS.
 * Returns the refusal, or undefined to let the request through.
 */
export function refusal(
  method: string,
  url: string,
  headers: Record<string, unknown>,
  ownOrigin: string,
): { status: number; contentType: string; body: string } | undefined {
  const [path = '', query = ''] = url.split('?', 2);
  if (path.startsWith(OWN_PAGES) && (method === 'GET' || method === 'HEAD')) return undefined;
  const sqs =
    headers['x-amz-target'] !== undefined || String(headers['content-type'] ?? '').includes('x-amz-json');
  const deny = (code: string, message: string) =>
    sqs
      ? {
          status: 403,
          contentType: 'application/x-amz-json-1.0',
          body: JSON.stringify({ __type: `com.amazon.coral.service#${code}`, message }),
        }
      : {
          status: 403,
          contentType: 'application/xml',
          body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${xmlEscape(message)}</Message></Error>`,
        };
  const origin = headers.origin;
  if (origin !== undefined && origin !== ownOrigin) {
    return deny(
      'AccessDeniedException',
      `Access Denied: requests from web pages (Origin ${String(origin)}) are refused`,
    );
  }
  const authorization = String(headers.authorization ?? '');
  const q = new URLSearchParams(query);
  const signed =
    authorization.startsWith('AWS4-HMAC-SHA256 ') ||
    (q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' && q.has('X-Amz-Signature'));
  if (!signed)
    return deny('MissingAuthenticationTokenException', 'Access Denied: the request is not signed (SigV4)');
  return undefined;
}

type S3ErrorClass = new (code: string, message: string, statusCode: number) => Error;

/** The request a store call is made for: its S3 operation and its conditional-write headers. */
interface RequestContext {
  kind: string;
  ifNoneMatch?: string;
  ifMatch?: string;
  /** CopyObject's x-amz-copy-source and x-amz-copy-source-if-match. */
  copySource?: string;
  copySourceIfMatch?: string;
}

const header = (headers: Record<string, unknown>, name: string) =>
  typeof headers[name] === 'string' ? (headers[name] as string) : undefined;

/**
 * S3 conditional writes, which fauxqs 2.4.1 ignores on PutObject, CopyObject and
 * CompleteMultipartUpload: `If-None-Match: *` fails with 412 when the key has a current object, and
 * `If-Match: <etag>` fails with 412 unless the current object has that ETag (S3 User Guide, "How to
 * prevent object overwrites with conditional writes"). Checked inside the store call, so the check and
 * the write are one step, as S3 makes them.
 */
function checkConditionalWrite(
  context: RequestContext | undefined,
  current: { etag: string } | undefined,
  S3Error: S3ErrorClass,
): void {
  if (!context) return;
  const failed = () =>
    new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);
  if (context.ifNoneMatch !== undefined && context.ifNoneMatch.trim() === '*' && current) throw failed();
  if (context.ifMatch !== undefined) {
    const wanted = context.ifMatch.trim().replaceAll('"', '');
    if (!current || current.etag.replaceAll('"', '') !== wanted) {
      // S3 answers an If-Match on a missing key with 404 NoSuchKey.
      if (!current) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
      throw failed();
    }
  }
}

/**
 * CopyObject's `x-amz-copy-source-if-match`, which fauxqs 2.4.1 ignores: "Copies the object if its entity
 * tag (ETag) matches the specified tag", else 412 PreconditionFailed (Amazon S3 API Reference, CopyObject).
 * The replicator relies on it to never copy a source that moved on (tests/helpers/object-store-contract.ts).
 */
function checkCopySource(
  context: RequestContext | undefined,
  objectAt: (bucket: string, key: string, versionId?: string) => { etag: string } | undefined,
  S3Error: S3ErrorClass,
): void {
  if (context?.copySourceIfMatch === undefined || context.copySource === undefined) return;
  const [path = '', query = ''] = context.copySource.split('?', 2);
  const [bucket = '', ...rest] = decodeURIComponent(path).replace(/^\//, '').split('/');
  const versionId = new URLSearchParams(query).get('versionId') ?? undefined;
  const source = objectAt(bucket, rest.join('/'), versionId);
  const wanted = context.copySourceIfMatch.trim().replaceAll('"', '');
  if (source && source.etag.replaceAll('"', '') !== wanted) {
    throw new S3Error(
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
      412,
    );
  }
}

/** Names the S3 operation (or SQS action) of a request, for request counts and event names. */
export function classify(method: string, url: string, headers: Record<string, unknown>): string {
  const [path = '', query = ''] = url.split('?', 2);
  const q = new URLSearchParams(query);
  const segments = path.split('/').filter(Boolean).length;
  if (headers['x-amz-target'] || String(headers['content-type'] ?? '').includes('x-amz-json')) {
    return `SQS:${String(headers['x-amz-target'] ?? '')
      .split('.')
      .pop()}`;
  }
  if (method === 'PUT' && segments >= 2) {
    if (q.has('uploadId')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
    if (q.has('tagging')) return 'PutObjectTagging';
    return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
  }
  if (method === 'POST' && segments >= 2) {
    if (q.has('uploadId')) return 'CompleteMultipartUpload';
    if (q.has('uploads')) return 'CreateMultipartUpload';
    if (q.has('restore')) return 'RestoreObject';
    return 'POST';
  }
  if (method === 'POST' && segments === 1) return q.has('delete') ? 'DeleteObjects' : 'PostObject';
  if (method === 'PUT' && segments === 1) return 'PutBucket';
  if (method === 'DELETE' && segments >= 2) {
    if (q.has('uploadId')) return 'AbortMultipartUpload';
    return q.has('tagging') ? 'DeleteObjectTagging' : 'DeleteObject';
  }
  if (method === 'GET' && segments === 1) {
    if (q.has('uploads')) return 'ListMultipartUploads';
    if (q.has('versions')) return 'ListObjectVersions';
    return 'ListObjects';
  }
  if (method === 'GET' && segments >= 2) {
    if (q.has('uploadId')) return 'ListParts';
    if (q.has('attributes')) return 'GetObjectAttributes';
    if (q.has('tagging')) return 'GetObjectTagging';
    return 'GetObject';
  }
  if (method === 'HEAD') return segments >= 2 ? 'HeadObject' : 'HeadBucket';
  return `${method}`;
}

/** Object-event listeners: `emit` calls each one. */
function eventHub() {
  const listeners = new Set<(event: ObjectEvent) => void>();
  return {
    emit: (event: ObjectEvent) => {
      for (const listener of listeners) listener(event);
    },
    subscribe(listener: (event: ObjectEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear: () => listeners.clear(),
  };
}

/**
 * The hooks every request passes before fauxqs's route handler: refusal of unsigned and cross-origin
 * requests, request counts, the listings fauxqs lacks, the empty-body fix, and the scope that tells the
 * store calls which request they serve. Returns the counts and that scope.
 */
function installRequestHooks(
  app: FastifyApp,
  s3Store: S3StoreLike,
  encodeListedKey: KeyEncoder,
  versioning: () => Versioning,
  ownOrigin: () => string,
): { counts: Record<string, number>; requestContext: RequestScope<RequestContext> } {
  const requestContext = requestScope<RequestContext>();
  const counts: Record<string, number> = {};
  app.addHook('onRequest', (request, reply, done) => {
    const refused = refusal(
      request.method,
      request.url,
      request.headers as Record<string, unknown>,
      ownOrigin(),
    );
    if (!refused) return done();
    void reply.code(refused.status).header('content-type', refused.contentType).send(refused.body);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    const kind = classify(request.method, request.url, request.headers as Record<string, unknown>);
    counts[kind] = (counts[kind] ?? 0) + 1;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    const listing = multipartListing(request.method, request.url, s3Store, encodeListedKey, versioning());
    if (!listing) return done();
    void reply.code(listing.status).header('content-type', 'application/xml').send(listing.body);
  });
  // A PUT with an empty body (how the AWS CLI and boto3 create a zero-byte object: Content-Length 0 and
  // nothing after it) reaches fauxqs 2.4.1 with no parsed body, and its putObject answers 500 for
  // `Buffer.from(undefined)`. S3 stores an empty object; so does the emulator, given an empty buffer.
  app.addHook('preHandler', (request, _reply, done) => {
    if (request.method === 'PUT' && request.body === undefined) request.body = Buffer.alloc(0);
    done();
  });
  // After the body is parsed, fastify calls the route handler from this hook's `done`, and the handler
  // calls the store synchronously: those calls see this request (local/emulator-request.ts) and can name
  // their event after it.
  app.addHook('preHandler', (request, _reply, done) => {
    const headers = request.headers as Record<string, unknown>;
    const kind = classify(request.method, request.url, headers);
    // Conditional headers count only on writes: on GET/HEAD they are read conditions fauxqs handles.
    const writes = ['PutObject', 'CopyObject', 'CompleteMultipartUpload'].includes(kind);
    requestContext.run(
      {
        kind,
        ifNoneMatch: writes ? header(headers, 'if-none-match') : undefined,
        ifMatch: writes ? header(headers, 'if-match') : undefined,
        copySource: kind === 'CopyObject' ? header(headers, 'x-amz-copy-source') : undefined,
        copySourceIfMatch: kind === 'CopyObject' ? header(headers, 'x-amz-copy-source-if-match') : undefined,
      },
      done,
    );
  });
  return { counts, requestContext };
}

/**
 * The modelled S3 latency (Emulator.setS3LatencyMs): an onRequest hook that holds S3 requests on a
 * timer. SQS requests pass: the job and replication queues are not what the benchmark models, and the
 * local pollers' long polls would only lose time. Changing the value releases what is held, so a
 * benchmark that turns the latency off (or a stop) never waits out the old one.
 */
function installS3Latency(app: FastifyApp): (ms: number) => void {
  let latencyMs = 0;
  const held = new Map<NodeJS.Timeout, () => void>();
  app.addHook('onRequest', (request, _reply, done) => {
    if (latencyMs <= 0 || request.url.startsWith('/_s3dr/')) return done();
    if (classify(request.method, request.url, request.headers as Record<string, unknown>).startsWith('SQS:'))
      return done();
    const timer = setTimeout(() => {
      held.delete(timer);
      done();
    }, latencyMs);
    held.set(timer, done);
  });
  return (ms) => {
    latencyMs = ms;
    for (const [timer, release] of held) {
      clearTimeout(timer);
      held.delete(timer);
      release();
    }
  };
}

/**
 * The layers that keep what S3 keeps beside an object, in the order they must wrap the store: tagging
 * first, so a write's tag set is in place by the time its event is emitted; storage classes next, so the
 * class a write asked for is on the object versioning keeps as a version; versioning last (it moves the
 * replaced object, with its tags and class, among the versions).
 */
function installObjectLayers(
  app: FastifyApp,
  s3Store: S3StoreLike,
  emit: (event: ObjectEvent) => void,
  S3Error: S3ErrorClass,
  compareUtf8: (a: string, b: string) => number,
): Versioning {
  installObjectTagging(app, s3Store, emit, (bucket, key, versionId) =>
    versioning.objectAt(bucket, key, versionId),
  );
  installStorageClasses(
    app,
    s3Store as unknown as ClassedStore,
    (bucket, key, versionId) => versioning.objectAt(bucket, key, versionId) as ClassedObject | undefined,
  );
  const versioning = installVersioning(app, s3Store as unknown as VersionableStore, S3Error, compareUtf8);
  return versioning;
}

/**
 * Wraps the store's writes and deletes, outermost (after the object layers, so an event sees the version
 * it announces): checks conditional writes, and emits the event S3 would send, named after the request.
 */
function announceWrites(
  s3Store: S3StoreLike,
  requestContext: RequestScope<RequestContext>,
  S3Error: S3ErrorClass,
  emit: (event: ObjectEvent) => void,
  versioning: Versioning,
): void {
  const currentObject = (bucket: string, key: string) => s3Store.buckets.get(bucket)?.get(key);
  const emitCreated = (
    eventName: ObjectEventName,
    bucket: string,
    key: string,
    obj: { contentLength: number; etag: string },
  ) =>
    emit({
      eventName,
      bucket,
      key,
      size: obj.contentLength,
      etag: obj.etag.replaceAll('"', ''),
      versionId: versioning.currentVersionId(bucket, key),
      time: new Date(),
    });
  const putObject = s3Store.putObject.bind(s3Store);
  s3Store.putObject = (...args: unknown[]) => {
    const context = requestContext.get();
    checkConditionalWrite(context, currentObject(String(args[0]), String(args[1])), S3Error);
    checkCopySource(
      context,
      (bucket, key, versionId) =>
        versionId === undefined ? currentObject(bucket, key) : versioning.objectAt(bucket, key, versionId),
      S3Error,
    );
    const obj = putObject(...args);
    const op = context?.kind;
    const eventName: ObjectEventName =
      op === 'CopyObject'
        ? 'ObjectCreated:Copy'
        : op === 'PostObject'
          ? 'ObjectCreated:Post'
          : 'ObjectCreated:Put';
    emitCreated(eventName, String(args[0]), String(args[1]), obj);
    return obj;
  };
  const complete = s3Store.completeMultipartUpload.bind(s3Store);
  s3Store.completeMultipartUpload = (uploadId: string, parts: unknown) => {
    const upload = s3Store.multipartUploads.get(uploadId);
    if (upload) {
      checkConditionalWrite(requestContext.get(), currentObject(upload.bucket, upload.key), S3Error);
    }
    const obj = complete(uploadId, parts);
    if (upload) emitCreated('ObjectCreated:CompleteMultipartUpload', upload.bucket, upload.key, obj);
    return obj;
  };
  const deleteObject = s3Store.deleteObject.bind(s3Store);
  s3Store.deleteObject = (bucket: string, key: string, versionId?: string) => {
    const result = deleteObject(bucket, key, versionId);
    // Like S3, a delete is notified whether or not the key existed; on a versioned bucket a delete
    // without a version id is s3:ObjectRemoved:DeleteMarkerCreated (User Guide, "Event notification
    // types and destinations").
    emit({
      eventName: result?.markerCreated ? 'ObjectRemoved:DeleteMarkerCreated' : 'ObjectRemoved:Delete',
      bucket,
      key,
      ...(result?.versionId !== undefined ? { versionId: result.versionId } : {}),
      time: new Date(),
    });
    return result;
  };
}

/**
 * Starts fauxqs on 127.0.0.1 (never all interfaces) with object-event hooks installed.
 * `port: 0` picks a free port.
 */
export async function startEmulator(options: {
  port: number;
  region?: string;
  /** Keep state in this folder across restarts (default: in memory only). */
  dataDir?: string;
  /** Registers extra routes (e.g. the status page) before the server starts listening. */
  beforeListen?: (app: FastifyApp) => void;
}): Promise<Emulator> {
  const { S3Store, SqsStore, SnsStore, PersistenceManager, encodeListedKey, S3Error, compareUtf8 } =
    await loadStoreClasses();
  const s3Store = new S3Store() as S3StoreLike;
  const sqsStore = new SqsStore();
  const snsStore = new SnsStore();
  const persistence = options.dataDir
    ? persist(options.dataDir, PersistenceManager, { s3Store, sqsStore, snsStore })
    : undefined;
  if (options.region) sqsStore.region = options.region;
  const app = buildApp({ logger: false, stores: { s3Store, sqsStore, snsStore } as never });

  const events = eventHub();
  let ownOrigin = '';
  const { counts, requestContext } = installRequestHooks(
    app,
    s3Store,
    encodeListedKey,
    () => versioning,
    () => ownOrigin,
  );
  const setS3Latency = installS3Latency(app);
  const versioning = installObjectLayers(app, s3Store, events.emit, S3Error, compareUtf8);
  announceWrites(s3Store, requestContext, S3Error, events.emit, versioning);

  options.beforeListen?.(app);
  await app.listen({ port: options.port, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  ownOrigin = `http://127.0.0.1:${port}`;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    onObjectEvent: events.subscribe,
    requestCounts: async () => ({ ...counts }),
    cpuUsage: async () => process.cpuUsage(),
    setS3LatencyMs: async (ms) => setS3Latency(ms),
    async stop() {
      events.clear();
      setS3Latency(0);
      await app.close();
      persistence?.close();
    },
  };
}

/**
 * Starts the emulator in a child process (see emulator-process.ts) and returns the same interface.
 * `statusSnapshot` answers the status page, which the child serves on the emulator's port.
 */
export async function startEmulatorProcess(options: {
  port: number;
  dataDir?: string;
  statusSnapshot: () => unknown;
}): Promise<Emulator> {
  const { fork } = await import('node:child_process');
  // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and the emulator
  // must outlive the handlers' drain, so only this process decides when it stops. It exits by itself
  // when this process goes away (the IPC channel closes), so it is never orphaned.
  const child = fork(new URL('./emulator-process.ts', import.meta.url), [], {
    env: {
      ...process.env,
      S3DR_EMULATOR_PORT: String(options.port),
      S3DR_EMULATOR_DATA_DIR: options.dataDir ?? '',
      NODE_OPTIONS: '',
    },
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const events = eventHub();
  const pending = new Map<number, (answer: never) => void>();
  /** Asks the child for its request counts or CPU usage; it answers with the same type and id. */
  const ask = <T>(type: 'request-counts' | 'cpu-usage' | 's3-latency', ms?: number): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve) => {
      pending.set(id, resolve as (answer: never) => void);
      child.send({ type, id, ms });
    });
  };
  let nextId = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the emulator process exited (code ${code}) before it was ready`)),
    );
    child.on('message', (message: { type: string; [k: string]: unknown }) => {
      if (message.type === 'ready') resolve(Number(message.port));
      else if (message.type === 'events') {
        for (const raw of message.events as (ObjectEvent & { time: string })[]) {
          events.emit({ ...raw, time: new Date(raw.time) });
        }
      } else if (message.type === 'status?') {
        void Promise.resolve(options.statusSnapshot()).then((snapshot) =>
          child.send({ type: 'status', id: message.id, snapshot }),
        );
      } else if (['request-counts', 'cpu-usage', 's3-latency'].includes(message.type)) {
        pending.get(Number(message.id))?.(message.answer as never);
        pending.delete(Number(message.id));
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    onObjectEvent: events.subscribe,
    requestCounts: () => ask<Record<string, number>>('request-counts'),
    cpuUsage: () => ask<NodeJS.CpuUsage>('cpu-usage'),
    setS3LatencyMs: (ms) => ask<void>('s3-latency', ms),
    async stop() {
      events.clear();
      if (!child.connected) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    },
  };
}
