/**
 * End to end: the same scenarios against the local runtime (default; part of `npm test`) or a deployed
 * stage (`npm run test:e2e -- --stage <name> [--region <source region>]`). Every key lives under a
 * per-run prefix `s3dr-e2e/<runId>/`, and everything the run wrote is deleted afterwards, also when a
 * scenario failed (docs/deploy.md#testing-against-a-deployed-stage).
 *
 * The scenarios build on each other in order (the deleted object is the one verify and restore look at).
 */
import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cursorKey } from '../../lib/verify/cursor.ts';
import { bodyFor, type ObjectSnapshot, putMultipart, putObject, snapshot } from '../helpers/objects.ts';
import { openAwsTarget } from './aws-target.ts';
import { cleanupRun, describeCleanup } from './cleanup.ts';
import { isVersioned, listStored } from './listing.ts';
import { openLocalTarget } from './local-target.ts';
import { E2E_ROOT } from './safety.ts';
import { type E2eTarget, e2eOptionsFromEnv, eventually, multipartPartSizes } from './target.ts';

const options = e2eOptionsFromEnv();
const runId = `${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '')}-${randomUUID().slice(0, 8)}`;
const prefix = `${E2E_ROOT}${runId}/`;
/** Jest's limit per scenario: a few of the target's bounded waits (a wait that runs out fails first). */
const TIMEOUT = (options.waitSeconds ?? (options.stage ? 120 : 60)) * 1000 * 4;

let target: E2eTarget | undefined;
/** Files the run made under `.s3dr/` in the DR bucket (the verifier's cursor and report). */
const drStateKeys: string[] = [];

const t = (): E2eTarget => {
  if (!target) throw new Error('the target did not open (see the error of beforeAll)');
  return target;
};
const sourceSnapshot = (key: string) => snapshot(t().source.s3, t().source.bucket, key);
const drSnapshot = (key: string) => snapshot(t().dr.s3, t().dr.bucket, t().drKey(key));
/** Waits until the DR copy of `key` has the bytes of `expected` (or is gone, for `undefined`). */
const drCopyMatches = (key: string, expected: ObjectSnapshot | undefined, what: string) =>
  eventually(
    t(),
    what,
    () => drSnapshot(key),
    (copy) => copy?.sha256 === expected?.sha256,
  );

beforeAll(async () => {
  target = options.stage
    ? await openAwsTarget({ ...options, stage: options.stage })
    : await openLocalTarget(options);
  process.stderr.write(`s3dr e2e: run ${runId} against ${target.description}, keys under ${prefix}\n`);
}, TIMEOUT);

afterAll(async () => {
  if (!target) return; // refused or failed to open: nothing was written
  try {
    const reports = await cleanupRun(target, prefix, drStateKeys);
    process.stderr.write(`s3dr e2e cleanup:\n${reports.map((r) => `  ${describeCleanup(r)}`).join('\n')}\n`);
  } finally {
    await target.close();
  }
}, TIMEOUT);

describe('end to end', () => {
  const putKey = `${prefix}put/hello world+ü.txt`;
  const metadataKey = `${prefix}metadata/report 2026.csv`;
  const multipartKey = `${prefix}multipart/parts.bin`;
  const deletedKey = `${prefix}delete/gone+soon.txt`;
  let deletedBefore: ObjectSnapshot | undefined;

  it(
    'replicates a new object to DR with the same bytes',
    async () => {
      await putObject(t().source.s3, t().source.bucket, putKey, bodyFor(putKey, 1, 1024));
      const source = await sourceSnapshot(putKey);
      const copy = await drCopyMatches(putKey, source, 'the DR copy of a new object');
      expect(copy).toEqual(source);
    },
    TIMEOUT,
  );

  it(
    'replicates an overwrite: DR holds the new bytes',
    async () => {
      const before = await drSnapshot(putKey);
      await putObject(t().source.s3, t().source.bucket, putKey, bodyFor(putKey, 2, 3000));
      const source = await sourceSnapshot(putKey);
      expect(source?.sha256).not.toBe(before?.sha256);
      const copy = await drCopyMatches(putKey, source, 'the DR copy of an overwritten object');
      expect(copy).toEqual(source);
    },
    TIMEOUT,
  );

  it(
    'keeps user metadata, content type and cache control',
    async () => {
      await putObject(t().source.s3, t().source.bucket, metadataKey, bodyFor(metadataKey, 1, 512), {
        metadata: { origin: 'e2e', 'run-id': runId },
        contentType: 'text/csv; charset=utf-8',
        cacheControl: 'max-age=60',
      });
      const source = await sourceSnapshot(metadataKey);
      const copy = await drCopyMatches(metadataKey, source, 'the DR copy of an object with metadata');
      expect(copy).toEqual(source);
      expect(copy).toMatchObject({
        metadata: { origin: 'e2e', 'run-id': runId },
        contentType: 'text/csv; charset=utf-8',
        cacheControl: 'max-age=60',
      });
    },
    TIMEOUT,
  );

  it(
    "copies a multipart object above the stage's multipart threshold with its part layout (same ETag)",
    async () => {
      const parts = multipartPartSizes(t().multipartThreshold, options.maxMultipartBytes);
      const etag = await putMultipart(t().source.s3, t().source.bucket, multipartKey, parts, {
        kind: 'parts',
      });
      expect(etag).toMatch(new RegExp(`-${parts.length}"$`));
      const source = await sourceSnapshot(multipartKey);
      expect(source?.size).toBeGreaterThan(t().multipartThreshold);
      const copy = await drCopyMatches(multipartKey, source, 'the DR copy of a multipart object');
      expect(copy).toEqual(source);
      expect(copy?.etag).toBe(etag);
    },
    TIMEOUT,
  );

  it(
    "applies the stage's delete policy when the source object is deleted",
    async () => {
      await putObject(t().source.s3, t().source.bucket, deletedKey, bodyFor(deletedKey, 1, 777), {
        metadata: { origin: 'e2e' },
        contentType: 'text/plain',
      });
      deletedBefore = await sourceSnapshot(deletedKey);
      await drCopyMatches(deletedKey, deletedBefore, 'the DR copy of the object about to be deleted');

      await t().source.s3.send(new DeleteObjectCommand({ Bucket: t().source.bucket, Key: deletedKey }));

      if (t().deletePolicy === 'mirror') {
        // mirror: the DR object disappears from the current view…
        await drCopyMatches(deletedKey, undefined, 'the DR copy of a deleted object (mirror) gone');
        // …behind a delete marker, its data kept as a noncurrent version (docs/design.md, invariant 2).
        if (await isVersioned(t().dr.s3, t().dr.bucket)) {
          const entries = [];
          for await (const page of listStored(t().dr.s3, t().dr.bucket, {
            prefix: t().drKey(deletedKey),
            versioned: true,
          }))
            entries.push(...page.entries.filter((e) => e.key === t().drKey(deletedKey)));
          expect(entries.find((e) => e.isLatest)?.deleteMarker).toBe(true);
          expect(entries.some((e) => !e.deleteMarker && !e.isLatest)).toBe(true);
        }
      } else {
        // retain: the DR copy stays as it was. (A deployed stage gives no signal that the delete was
        // processed; the verify scenario next sees the copy still there, as an orphan.)
        await t().settle();
        expect(await drSnapshot(deletedKey)).toEqual(deletedBefore);
      }
      expect(await sourceSnapshot(deletedKey)).toBeUndefined();
    },
    TIMEOUT,
  );

  it(
    'verify reports no drift for the run prefix',
    async () => {
      const source = t().source.bucket;
      drStateKeys.push(cursorKey(source, { prefix, deep: 0 }));
      const report = await t().verify({ source, prefix, graceSeconds: 0, repair: false });
      drStateKeys.push(report.reportKey);

      expect(report.pass.complete).toBe(true);
      expect(report.counts).toEqual({
        ok: 3, // the overwritten object, the one with metadata, the multipart one
        missing: 0,
        mismatched: 0,
        pending: 0,
        unreplicable: 0,
        // retain keeps the deleted object's copy: the verifier reports it, it is not drift.
        orphaned: t().deletePolicy === 'retain' ? 1 : 0,
      });
    },
    TIMEOUT,
  );

  it(
    'restores the deleted object: the dry run plans it and writes nothing, the real run brings it back',
    async () => {
      const payload = { source: t().source.bucket, keys: [deletedKey] };

      const plan = await t().restore(payload);
      expect(plan.dryRun).toBe(true);
      expect(plan.plan.restore).toMatchObject({ objects: 1, sample: [deletedKey] });
      expect(await sourceSnapshot(deletedKey)).toBeUndefined();

      const done = await t().restore({ ...payload, dryRun: false });
      expect(done.results?.restored.objects).toBe(1);
      expect(done.results?.failed.objects).toBe(0);
      expect(await sourceSnapshot(deletedKey)).toEqual(deletedBefore);
      // The restore's write is an ordinary source event: DR ends up holding the object again.
      expect(await drCopyMatches(deletedKey, deletedBefore, 'the DR copy of the restored object')).toEqual(
        deletedBefore,
      );
    },
    TIMEOUT,
  );
});
