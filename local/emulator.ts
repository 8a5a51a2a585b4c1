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
  putObject(...args: unknown[]): StoredObject;
  deleteObject(bucket: string, key: string): void;
  completeMultipartUpload(uploadId: string, parts: unknown): StoredObject;
  multipartUploads: Map<string, { bucket: string; key: string }>;
}

export interface Emulator {
  port: number;
  endpoint: string;
  app: FastifyApp;
  /** Subscribes to object writes and deletes; returns an unsubscribe function. */
  onObjectEvent(listener: (event: ObjectEvent) => void): () => void;
  /** Counts of HTTP requests served, by S3 operation or SQS action (for benchmarks). */
  requestCounts(): Record<string, number>;
  stop(): Promise<void>;
}

async function loadStoreClasses() {
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  const [{ S3Store }, { SqsStore }, { SnsStore }] = await Promise.all([
    import(new URL('s3/s3Store.js', dist).href),
    import(new URL('sqs/sqsStore.js', dist).href),
    import(new URL('sns/snsStore.js', dist).href),
  ]);
  return { S3Store, SqsStore, SnsStore };
}

/** Names the S3 operation (or SQS action) of a request, for request counts and event names. */
function classify(method: string, url: string, headers: Record<string, unknown>): string {
  const [path = '', query = ''] = url.split('?', 2);
  const q = new URLSearchParams(query);
  const segments = path.split('/').filter(Boolean).length;
  if (headers['x-amz-target'] || String(headers['content-type'] ?? '').includes('x-amz-json')) {
    return `SQS:${String(headers['x-amz-target'] ?? '').split('.').pop()}`;
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
  if (method === 'DELETE' && segments >= 2) return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
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
  const { S3Store, SqsStore, SnsStore } = await loadStoreClasses();
  const s3Store = new S3Store() as S3StoreLike;
  const sqsStore = new SqsStore();
  const snsStore = new SnsStore();
  if (options.region) sqsStore.region = options.region;
  const app = buildApp({ logger: false, stores: { s3Store, sqsStore, snsStore } as never });

  const requestKind = new AsyncLocalStorage<string>();
  const counts: Record<string, number> = {};
  const listeners = new Set<(event: ObjectEvent) => void>();
  const emit = (event: ObjectEvent) => {
    for (const listener of listeners) listener(event);
  };

  app.addHook('onRequest', (request, _reply, done) => {
    const kind = classify(request.method, request.url, request.headers as Record<string, unknown>);
    counts[kind] = (counts[kind] ?? 0) + 1;
    done();
  });
  // After the body is parsed, fastify calls the route handler from this hook's `done`: the store calls it
  // makes run inside this context and can name their event after the request.
  app.addHook('preHandler', (request, _reply, done) => {
    requestKind.run(classify(request.method, request.url, request.headers as Record<string, unknown>), done);
  });

  const putObject = s3Store.putObject.bind(s3Store);
  s3Store.putObject = (...args: unknown[]) => {
    const obj = putObject(...args);
    const op = requestKind.getStore();
    const eventName: ObjectEventName =
      op === 'CopyObject' ? 'ObjectCreated:Copy' : op === 'PostObject' ? 'ObjectCreated:Post' : 'ObjectCreated:Put';
    emit({
      eventName,
      bucket: String(args[0]),
      key: String(args[1]),
      size: obj.contentLength,
      etag: obj.etag.replaceAll('"', ''),
      time: new Date(),
    });
    return obj;
  };
  const complete = s3Store.completeMultipartUpload.bind(s3Store);
  s3Store.completeMultipartUpload = (uploadId: string, parts: unknown) => {
    const upload = s3Store.multipartUploads.get(uploadId);
    const obj = complete(uploadId, parts);
    if (upload) {
      emit({
        eventName: 'ObjectCreated:CompleteMultipartUpload',
        bucket: upload.bucket,
        key: upload.key,
        size: obj.contentLength,
        etag: obj.etag.replaceAll('"', ''),
        time: new Date(),
      });
    }
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
    app,
    onObjectEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    requestCounts: () => ({ ...counts }),
    async stop() {
      listeners.clear();
      await app.close();
    },
  };
}
