/**
 * What the emulator's layers keep on fauxqs's stored objects beyond fauxqs's own columns — tag sets
 * (local/emulator-tagging.ts), storage classes (local/emulator-storage-class.ts) — kept in the same
 * SQLite file as the objects when the emulator has a data folder, so they survive a restart as the
 * objects do (fauxqs's `s3_objects` table has no column for them).
 *
 * One table per field, one row per stored object that has a value (the internal versions bucket's
 * objects too, so a noncurrent version keeps its own). A row is written whenever a layer sets the value
 * and whenever an object is persisted carrying one (a version moved by local/emulator-versioning.ts), and
 * removed with the object. It names the ETag of the object it was written for and is applied on load
 * only to an object with that ETag, so a row left behind by any path that bypassed the layers can never
 * dress another object in an old value.
 *
 * {@link installWriteField} is the one way a layer gives a field to what S3's writes store: it sets the
 * value a PutObject, CopyObject or CompleteMultipartUpload asks for on the object fauxqs stores, and keeps
 * it here.
 */
import type { FastifyRequest } from 'fastify';
import type { RequestScope } from './emulator-request.ts';

/** The part of fauxqs's SQLite persistence (node:sqlite's DatabaseSync underneath) the fields are kept in. */
export interface FieldPersistence {
  db: {
    exec(sql: string): void;
    prepare(sql: string): { run(...values: unknown[]): unknown; all(...values: unknown[]): unknown[] };
  };
  upsertObject(bucket: string, obj: { key: string; etag: string } & Record<string, unknown>): void;
  deleteObject(bucket: string, key: string): void;
  deleteObjectsByBucket(bucket: string): void;
}

interface StoredObject {
  etag: string;
}

/** Saves one object's value of the field (or forgets it when the object has none). */
export type SaveField = (
  bucket: string,
  obj: { key: string; etag: string } & Record<string, unknown>,
) => void;

/**
 * Keeps `field` of the store's objects in `table`; loads it onto the objects now. `isSet` tells a value
 * worth a row from the default (an empty tag set, STANDARD). Without persistence, saving does nothing.
 */
export function persistObjectField(
  store: { buckets: Map<string, Map<string, StoredObject>>; persistence?: FieldPersistence },
  table: string,
  field: string,
  isSet: (value: unknown) => boolean,
): SaveField {
  const persistence = store.persistence;
  if (!persistence) return () => undefined;
  const { db } = persistence;
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${table} (bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, key))`,
  );
  const upsert = db.prepare(`INSERT OR REPLACE INTO ${table} (bucket, key, etag, value) VALUES (?, ?, ?, ?)`);
  const remove = db.prepare(`DELETE FROM ${table} WHERE bucket = ? AND key = ?`);
  const removeBucket = db.prepare(`DELETE FROM ${table} WHERE bucket = ?`);
  for (const row of db.prepare(`SELECT bucket, key, etag, value FROM ${table}`).all() as {
    bucket: string;
    key: string;
    etag: string;
    value: string;
  }[]) {
    const obj = store.buckets.get(row.bucket)?.get(row.key) as Record<string, unknown> | undefined;
    if (obj && obj.etag === row.etag) obj[field] = JSON.parse(row.value);
  }
  const save: SaveField = (bucket, obj) => {
    const value = obj[field];
    if (isSet(value)) upsert.run(bucket, obj.key, obj.etag, JSON.stringify(value));
    else remove.run(bucket, obj.key);
  };
  const upsertObject = persistence.upsertObject.bind(persistence);
  persistence.upsertObject = (bucket, obj) => {
    upsertObject(bucket, obj);
    // An object persisted with the field (a version moved by the versioning layer) keeps it; one
    // persisted without it (fauxqs writing a new object) is followed by the layer's own save.
    if (obj[field] !== undefined) save(bucket, obj);
  };
  const deleteObject = persistence.deleteObject.bind(persistence);
  persistence.deleteObject = (bucket, key) => {
    deleteObject(bucket, key);
    remove.run(bucket, key);
  };
  const deleteObjectsByBucket = persistence.deleteObjectsByBucket.bind(persistence);
  persistence.deleteObjectsByBucket = (bucket) => {
    deleteObjectsByBucket(bucket);
    removeBucket.run(bucket);
  };
  return save;
}

/** The part of fauxqs's S3 store whose writes carry a field onto the objects they store. */
export interface FieldStore {
  buckets: Map<string, Map<string, StoredObject>>;
  putObject(...args: unknown[]): unknown;
  createMultipartUpload(...args: unknown[]): string;
  completeMultipartUpload(uploadId: string, parts: unknown): unknown;
  multipartUploads: Map<string, { bucket: string; key: string }>;
  /** fauxqs's SQLite write-through, when the emulator keeps its state (S3DR_DATA_DIR). */
  persistence?: FieldPersistence;
}

/** A field S3 keeps per object and sets from the request that writes the object. */
export interface WriteField<V> {
  /** The SQLite table it is kept in, and the property of fauxqs's stored object (and open upload) it is. */
  table: string;
  field: string;
  /** Whether a value is worth a row, rather than the default (an empty tag set, STANDARD). */
  isSet(value: V | undefined): boolean;
  /**
   * The value a PutObject, CopyObject or PostObject request gives the object it writes; read before the
   * write, so a copy onto its own source still sees the source's value. `undefined` outside a request.
   */
  forPut(request: FastifyRequest | undefined): V | undefined;
  /** The value a CreateMultipartUpload request gives the object its completion will write. */
  forUpload(request: FastifyRequest | undefined): V | undefined;
}

/**
 * Wraps the store's writes so that each stored object carries `spec.field` as the writing request asks
 * (CompleteMultipartUpload takes the value its CreateMultipartUpload request asked for), and keeps it
 * across restarts with {@link persistObjectField} (versioning moves and deletes included). `current` is the
 * request whose handler is running (local/emulator-request.ts). Returns the save function, for requests
 * that change the field of an object in place (PutObjectTagging).
 */
export function installWriteField<V>(
  store: FieldStore,
  current: RequestScope<FastifyRequest>,
  spec: WriteField<V>,
): SaveField {
  const { field } = spec;
  const save = persistObjectField(store, spec.table, field, (value) => spec.isSet(value as V | undefined));
  /** Sets the field on the object a write just stored (if it stored one) and keeps it. */
  const setOnStored = (bucket: string, key: string, value: V | undefined) => {
    const stored = store.buckets.get(bucket)?.get(key) as
      | (StoredObject & Record<string, unknown>)
      | undefined;
    if (!stored) return;
    stored[field] = value;
    save(bucket, { ...stored, key });
  };

  const putObject = store.putObject.bind(store);
  store.putObject = (...args: unknown[]) => {
    const value = spec.forPut(current.get());
    const result = putObject(...args);
    setOnStored(String(args[0]), String(args[1]), value);
    return result;
  };
  const createMultipartUpload = store.createMultipartUpload.bind(store);
  store.createMultipartUpload = (...args: unknown[]) => {
    const uploadId = createMultipartUpload(...args);
    const upload = store.multipartUploads.get(uploadId) as Record<string, unknown> | undefined;
    if (upload) upload[field] = spec.forUpload(current.get());
    return uploadId;
  };
  const completeMultipartUpload = store.completeMultipartUpload.bind(store);
  store.completeMultipartUpload = (uploadId: string, parts: unknown) => {
    const upload = store.multipartUploads.get(uploadId);
    const result = completeMultipartUpload(uploadId, parts);
    if (upload) setOnStored(upload.bucket, upload.key, (upload as Record<string, unknown>)[field] as V);
    return result;
  };
  return save;
}
