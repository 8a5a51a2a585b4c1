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
 */

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
