/**
 * Storage classes for the embedded emulator. fauxqs 2.4.1 ignores `x-amz-storage-class` and lists every
 * object as STANDARD, so a replication rule's storage class could not be seen locally. S3 keeps the class
 * a write asks for: PutObject, CopyObject (a copy without the header is STANDARD) and
 * CreateMultipartUpload take `x-amz-storage-class` (S3 API Reference, PutObject / CopyObject /
 * CreateMultipartUpload); HEAD and GET return it "for all objects except for S3 Standard storage class
 * objects" (HeadObject, `x-amz-storage-class`); ListObjectsV2 and ListObjectVersions name it for every
 * object (`StorageClass`). This module records the class on fauxqs's own stored objects and answers HEAD
 * and GET with it; the listings read it (patches/fauxqs+2.4.1.patch, local/emulator-versioning.ts).
 * Like tags, it is kept in the data folder beside the object (local/emulator-object-fields.ts), so it
 * survives a restart.
 * Only the classes themselves are emulated, not their retrieval rules (GLACIER objects stay readable).
 *
 * Tests: tests/integration/emulator-storage-class.test.ts.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyApp } from './emulator.ts';
import { type FieldStore, installWriteField } from './emulator-object-fields.ts';
import { requestScope } from './emulator-request.ts';
import { s3Error } from './emulator-xml.ts';

/** The part of fauxqs's S3 store storage classes need. */
export interface ClassedStore extends FieldStore {
  buckets: Map<string, Map<string, ClassedObject>>;
}

export interface ClassedObject {
  etag: string;
  /** Unset: STANDARD. */
  storageClass?: string;
}

/** The classes S3 takes in `x-amz-storage-class` (S3 API Reference, PutObject). */
const CLASSES = new Set([
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'SNOW',
  'EXPRESS_ONEZONE',
]);

/** The class a write asks for; undefined for STANDARD (or no header). */
function requestedClass(request: FastifyRequest | undefined): string | undefined {
  const value = request?.headers['x-amz-storage-class'];
  return typeof value === 'string' && value !== 'STANDARD' ? value : undefined;
}

/**
 * Installs storage classes on a fauxqs app and its S3 store. Call it before versioning wraps the store,
 * so the class is on the stored object that versioning keeps as a version.
 */
export function installStorageClasses(
  app: FastifyApp,
  store: ClassedStore,
  /** One version of an object on a versioned bucket: HEAD/GET of a version report its class. */
  versionOf: (bucket: string, key: string, versionId: string) => ClassedObject | undefined = () => undefined,
): void {
  // Not AsyncLocalStorage: fauxqs calls its store synchronously from the route handler (local/emulator-request.ts).
  const current = requestScope<FastifyRequest>();
  const objectOf = (bucket: string, key: string) => store.buckets.get(bucket)?.get(key);
  installWriteField(store, current, {
    table: 's3dr_storage_classes',
    field: 'storageClass',
    isSet: (storageClass) => storageClass !== undefined,
    // A copy without the header is STANDARD, as a PUT without it is.
    forPut: requestedClass,
    forUpload: requestedClass,
  });

  app.addHook('preHandler', (request, reply, done) => {
    const wanted = request.headers['x-amz-storage-class'];
    if (typeof wanted === 'string' && !CLASSES.has(wanted)) {
      return s3Error(reply, 400, 'InvalidStorageClass', 'The storage class you specified is not valid');
    }
    const params = request.params as { bucket?: string; '*'?: string };
    const key = params['*'] ?? '';
    if ((request.method === 'GET' || request.method === 'HEAD') && key !== '') {
      const query = (request.query ?? {}) as Record<string, unknown>;
      const versionId = typeof query.versionId === 'string' ? query.versionId : undefined;
      const bucket = params.bucket ?? '';
      const stored = versionId === undefined ? objectOf(bucket, key) : versionOf(bucket, key, versionId);
      if (stored?.storageClass) void reply.header('x-amz-storage-class', stored.storageClass);
    }
    current.run(request, done);
  });
}
