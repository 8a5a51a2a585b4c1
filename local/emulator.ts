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
import { AsyncLocalStorage } from 'node:async_hooks';
import { buildApp } from 'fauxqs';

export type FastifyApp = ReturnType<typeof buildApp>;

export type ObjectEventName =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Post'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload'
  | 'ObjectRemoved:Delete';

export interface ObjectEvent {
  eventName: ObjectEventName;
  bucket: string;
  key: string;
  size?: number;
  etag?: string;
  time: Date;
}

interface StoredObject {
  etag: string;
  contentLength: number;
}

interface S3StoreLike {
  buckets: Map<string, Map<string, StoredObject>>;
  putObject(...args: unknown[]): StoredObject;
  deleteObject(bucket: string, key: string): void;
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

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * fauxqs 2.4.1 has no ListMultipartUploads (`GET /bucket?uploads` lists objects instead) and no ListParts
 * (`GET /bucket/key?uploadId=…` reads the object): without them an interrupted multipart copy could never
 * be resumed locally. Both are answered here from fauxqs's own upload store (no pagination: one page).
 */
function multipartListing(
  method: string,
  url: string,
  store: S3StoreLike,
): { status: number; body: string } | undefined {
  if (method !== 'GET') return undefined;
  const [path = '', query = ''] = url.split('?', 2);
  const q = new URLSearchParams(query);
  const [bucketPart = '', ...keyParts] = path.replace(/^\//, '').split('/');
  const bucket = decodeURIComponent(bucketPart);
  const key = keyParts.map(decodeURIComponent).join('/');
  const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
  if (key === '' && q.has('uploads')) {
    const prefix = q.get('prefix') ?? '';
    const uploads = [...store.multipartUploads.values()]
      .filter((u) => u.bucket === bucket && u.key.startsWith(prefix))
      .sort((a, b) =>
        a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime(),
      );
    return {
      status: 200,
      body: xml(
        `<ListMultipartUploadsResult ${ns}><Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads
          .map(
            (u) =>
              `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(u.uploadId)}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
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
    const parts = [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber);
    return {
      status: 200,
      body: xml(
        `<ListPartsResult ${ns}><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(uploadId)}</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${parts.at(-1)?.partNumber ?? 0}</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts
          .map(
            (p) =>
              `<Part><PartNumber>${p.partNumber}</PartNumber><LastModified>${p.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.body.length}</Size></Part>`,
          )
          .join('')}</ListPartsResult>`,
      ),
    };
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
  stop(): Promise<void>;
}

async function loadStoreClasses() {
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  const [{ S3Store }, { SqsStore }, { SnsStore }, { S3Error }] = await Promise.all([
    import(new URL('s3/s3Store.js', dist).href),
    import(new URL('sqs/sqsStore.js', dist).href),
    import(new URL('sns/snsStore.js', dist).href),
    import(new URL('common/errors.js', dist).href),
  ]);
  return { S3Store, SqsStore, SnsStore, S3Error: S3Error as S3ErrorClass };
}

type S3ErrorClass = new (code: string, message: string, statusCode: number) => Error;

/** The request a store call is made for: its S3 operation and its conditional-write headers. */
interface RequestContext {
  kind: string;
  ifNoneMatch?: string;
  ifMatch?: string;
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
  current: StoredObject | undefined,
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
  if (method === 'DELETE' && segments >= 2)
    return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
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

/**
 * Starts fauxqs on 127.0.0.1 (never all interfaces) with object-event hooks installed.
 * `port: 0` picks a free port.
 */
export async function startEmulator(options: {
  port: number;
  region?: string;
  /** Registers extra routes (e.g. the status page) before the server starts listening. */
  beforeListen?: (app: FastifyApp) => void;
}): Promise<Emulator> {
  const { S3Store, SqsStore, SnsStore, S3Error } = await loadStoreClasses();
  const s3Store = new S3Store() as S3StoreLike;
  const sqsStore = new SqsStore();
  const snsStore = new SnsStore();
  if (options.region) sqsStore.region = options.region;
  const app = buildApp({ logger: false, stores: { s3Store, sqsStore, snsStore } as never });

  const requestContext = new AsyncLocalStorage<RequestContext>();
  const counts: Record<string, number> = {};
  const listeners = new Set<(event: ObjectEvent) => void>();
  const emit = (event: ObjectEvent) => {
    for (const listener of listeners) listener(event);
  };
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
      time: new Date(),
    });

  app.addHook('onRequest', (request, _reply, done) => {
    const kind = classify(request.method, request.url, request.headers as Record<string, unknown>);
    counts[kind] = (counts[kind] ?? 0) + 1;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    const listing = multipartListing(request.method, request.url, s3Store);
    if (!listing) return done();
    void reply.code(listing.status).header('content-type', 'application/xml').send(listing.body);
  });
  // After the body is parsed, fastify calls the route handler from this hook's `done`: the store calls it
  // makes run inside this context and can name their event after the request.
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
      },
      done,
    );
  });
  const currentObject = (bucket: string, key: string) => s3Store.buckets.get(bucket)?.get(key);

  const putObject = s3Store.putObject.bind(s3Store);
  s3Store.putObject = (...args: unknown[]) => {
    const context = requestContext.getStore();
    checkConditionalWrite(context, currentObject(String(args[0]), String(args[1])), S3Error);
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
      checkConditionalWrite(requestContext.getStore(), currentObject(upload.bucket, upload.key), S3Error);
    }
    const obj = complete(uploadId, parts);
    if (upload) emitCreated('ObjectCreated:CompleteMultipartUpload', upload.bucket, upload.key, obj);
    return obj;
  };
  const deleteObject = s3Store.deleteObject.bind(s3Store);
  s3Store.deleteObject = (bucket: string, key: string) => {
    deleteObject(bucket, key);
    // Like S3, a delete is notified whether or not the key existed.
    emit({ eventName: 'ObjectRemoved:Delete', bucket, key, time: new Date() });
  };

  options.beforeListen?.(app);
  await app.listen({ port: options.port, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    onObjectEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    requestCounts: async () => ({ ...counts }),
    async stop() {
      listeners.clear();
      await app.close();
    },
  };
}

/**
 * Starts the emulator in a child process (see emulator-process.ts) and returns the same interface.
 * `statusSnapshot` answers the status page, which the child serves on the emulator's port.
 */
export async function startEmulatorProcess(options: {
  port: number;
  statusSnapshot: () => unknown;
}): Promise<Emulator> {
  const { fork } = await import('node:child_process');
  const child = fork(new URL('./emulator-process.ts', import.meta.url), [], {
    env: { ...process.env, S3DR_EMULATOR_PORT: String(options.port), NODE_OPTIONS: '' },
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const listeners = new Set<(event: ObjectEvent) => void>();
  const pending = new Map<number, (counts: Record<string, number>) => void>();
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
          const event = { ...raw, time: new Date(raw.time) };
          for (const listener of listeners) listener(event);
        }
      } else if (message.type === 'status?') {
        child.send({ type: 'status', id: message.id, snapshot: options.statusSnapshot() });
      } else if (message.type === 'request-counts') {
        pending.get(Number(message.id))?.(message.counts as Record<string, number>);
        pending.delete(Number(message.id));
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    onObjectEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    requestCounts() {
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.send({ type: 'request-counts', id });
      });
    },
    async stop() {
      listeners.clear();
      if (!child.connected) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    },
  };
}
