/**
 * One contract for every `ObjectStore` over a versioned bucket (docs/design.md, invariant 7: S3 is the
 * reference): the in-memory fake (tests/unit/versioned-store-contract.test.ts) and the S3 adapter over the
 * local emulator (tests/integration/emulator-versioning.test.ts) must both pass it, so restores and
 * `mirror` deletes tested on the fake mean the same thing locally. What S3 documents:
 * - "Using versioning in S3 buckets" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html):
 *   each write adds a version with its own id; the latest is the current version; GET/HEAD with
 *   `versionId` return that version.
 * - "Working with delete markers" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html):
 *   a DELETE without a version id adds a delete marker, which becomes the current version; a plain GET or
 *   HEAD is then a 404, and older versions stay readable by id.
 * - ListObjectVersions (https://docs.aws.amazon.com/AmazonS3/API/API_ListObjectVersions.html): keys in
 *   UTF-8 binary order, the versions of a key newest first, `IsLatest` on the current one; a truncated page
 *   gives NextKeyMarker / NextVersionIdMarker to resume with KeyMarker / VersionIdMarker.
 * - CopyObject (https://docs.aws.amazon.com/AmazonS3/API/API_CopyObject.html): a CopySource with
 *   `?versionId=` copies that version; the copy is a new version of the target.
 */
import { describe, expect, it } from '@jest/globals';
import type { ListedVersion, ObjectStore } from '../../lib/core/ports.ts';

export interface VersionedStoreFixture {
  /** A versioned bucket (empty, or at least with nothing under the prefixes the tests use). */
  store: ObjectStore;
}

/** Every version of a prefix, following the store's markers page by page. */
export async function allVersions(
  store: ObjectStore,
  prefix: string,
  maxKeys?: number,
): Promise<{ versions: ListedVersion[]; pages: number }> {
  const versions: ListedVersion[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  let pages = 0;
  do {
    const page = await store.listVersions({ prefix, keyMarker, versionIdMarker, maxKeys });
    versions.push(...page.versions);
    pages++;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  } while (keyMarker !== undefined);
  return { versions, pages };
}

const summary = (v: ListedVersion) => ({ key: v.key, latest: v.isLatest, marker: v.deleteMarker });

export function versionedStoreContract(name: string, fixture: () => VersionedStoreFixture): void {
  describe(`versioned ObjectStore contract: ${name}`, () => {
    it('reports versioning as enabled (GetBucketVersioning)', async () => {
      expect(await fixture().store.versioning()).toBe('enabled');
    });

    it('keeps every write as a version with its own id, newest first, the newest latest', async () => {
      const { store } = fixture();
      await store.putText('overwrite/k', 'one');
      await store.putText('overwrite/k', 'two');
      await store.putText('overwrite/k', 'three');
      const { versions } = await allVersions(store, 'overwrite/');
      expect(versions.map(summary)).toEqual([
        { key: 'overwrite/k', latest: true, marker: false },
        { key: 'overwrite/k', latest: false, marker: false },
        { key: 'overwrite/k', latest: false, marker: false },
      ]);
      const ids = versions.map((v) => v.versionId);
      expect(new Set(ids).size).toBe(3);
      expect(ids).not.toContain('null');
      const current = await store.head('overwrite/k');
      expect(current?.versionId).toBe(ids[0]);
      const middle = await store.head('overwrite/k', { versionId: ids[1] });
      expect(middle?.versionId).toBe(ids[1]);
      expect(middle?.etag).toBe(versions[1]?.etag);
      expect(middle?.etag).not.toBe(current?.etag);
      expect(await store.getText('overwrite/k')).toBe('three');
    });

    it('turns a delete into a delete marker: the key is gone, its versions stay readable', async () => {
      const { store } = fixture();
      await store.putText('deleted/k', 'kept');
      const written = await store.head('deleted/k');
      await store.remove('deleted/k');
      const { versions } = await allVersions(store, 'deleted/');
      expect(versions.map(summary)).toEqual([
        { key: 'deleted/k', latest: true, marker: true },
        { key: 'deleted/k', latest: false, marker: false },
      ]);
      expect(versions[1]?.versionId).toBe(written?.versionId);
      expect(await store.head('deleted/k')).toBeUndefined();
      expect(await store.getText('deleted/k')).toBeUndefined();
      expect((await store.head('deleted/k', { versionId: written?.versionId }))?.etag).toBe(written?.etag);
    });

    it('answers HEAD of a version id that does not exist as not found', async () => {
      const { store } = fixture();
      await store.putText('missing-version/k', 'x');
      expect(await store.head('missing-version/k', { versionId: 'no-such-version' })).toBeUndefined();
    });

    it('copies a noncurrent version by id, as a new current version', async () => {
      const { store } = fixture();
      await store.putText('copy/k', 'first');
      const first = await store.head('copy/k');
      await store.putText('copy/k', 'second');
      const copied = await store.copyFrom(
        { bucket: store.bucket, key: 'copy/k', versionId: first?.versionId },
        'copy/k',
        {},
      );
      expect(await store.getText('copy/k')).toBe('first');
      expect(copied.versionId).toBeDefined();
      expect(copied.versionId).not.toBe(first?.versionId);
      const { versions } = await allVersions(store, 'copy/');
      expect(versions).toHaveLength(3);
      expect(versions[0]?.versionId).toBe(copied.versionId);
    });

    it('keeps a tag set per version', async () => {
      const { store } = fixture();
      await store.putText('tags/k', 'first');
      const first = await store.head('tags/k');
      await store.putTags('tags/k', { generation: 'one' });
      await store.putText('tags/k', 'second');
      await store.putTags('tags/k', { generation: 'two' });
      expect(await store.getTags('tags/k', first?.versionId)).toEqual({ generation: 'one' });
      expect(await store.getTags('tags/k')).toEqual({ generation: 'two' });
    });

    it('lists keys in UTF-8 byte order and pages through versions and markers without gaps or repeats', async () => {
      const { store } = fixture();
      // UTF-8 order: 'Z' (5A) < 'a' (61) < 'é' (C3 A9) < '｡' (EF BD A1) < '😀' (F0 9F 98 80); UTF-16 code
      // units would put the emoji (D83D) before U+FF61.
      const keys = ['paged/😀', 'paged/a', 'paged/｡', 'paged/Z', 'paged/é'];
      for (const key of keys) {
        await store.putText(key, `${key} 1`);
        await store.putText(key, `${key} 2`);
      }
      await store.remove('paged/a');
      const whole = await allVersions(store, 'paged/');
      expect([...new Set(whole.versions.map((v) => v.key))]).toEqual([
        'paged/Z',
        'paged/a',
        'paged/é',
        'paged/｡',
        'paged/😀',
      ]);
      expect(whole.versions).toHaveLength(11);
      for (const maxKeys of [1, 2, 3]) {
        const paged = await allVersions(store, 'paged/', maxKeys);
        expect(paged.versions.map((v) => [v.key, v.versionId])).toEqual(
          whole.versions.map((v) => [v.key, v.versionId]),
        );
        expect(paged.pages).toBe(Math.ceil(11 / maxKeys));
      }
    });
  });
}
