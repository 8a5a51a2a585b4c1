/**
 * Keys an unencoded listing cannot carry, end to end on the local runtime: replicate → verify → delete →
 * restore → the same keys and bytes.
 *
 * S3 stores any UTF-8 key, and documents for its listings that "the XML 1.0 parser can't parse certain
 * characters, such as characters with an ASCII value from 0 to 10", which is what `EncodingType=url` is
 * for (S3 API Reference, ListObjectsV2 / ListObjectVersions / ListMultipartUploads, "EncodingType").
 * Without it a CR in a key comes back as LF: `cr/a\rb` could not be restored, and `p/a\rb` beside `p/a\nb`
 * made every listing repeat a key (issue 11, item 4).
 *
 * This suite runs with delete policy `retain` (the local default is `mirror`, on a versioned DR bucket):
 * a source delete leaves the DR copy current, and restore lists the versioned DR bucket with
 * ListObjectVersions (EncodingType=url, answered by local/emulator-versioning.ts). Restoring a version
 * from under a delete marker on the local runtime: tests/integration/restore-versions.test.ts.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { compareKeys } from '../../lib/core/key-order.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { type RestoreHandler, restoreReport } from '../helpers/jobs.ts';
import { bodyFor, type ObjectSnapshot, putObject, snapshots } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';
import { type VerifyHandler, verifyJobReport } from '../helpers/verify.ts';

const KEYS = [
  'ctl/cr/a\rb',
  'ctl/p/a\rb',
  'ctl/p/a\nb',
  'ctl/lf/a\nb',
  'ctl/crlf/a\r\nb',
  'ctl/tab/a\tb',
  'ctl/trailing space ',
].sort(compareKeys);

let rt: LocalRuntime;
let source: string;
let verifyHandler: VerifyHandler;
let restoreHandler: RestoreHandler;
const verify = (payload: unknown): Promise<VerifyReport> => verifyJobReport(rt, verifyHandler, payload);
const restore = (payload: unknown): Promise<RestoreReport> => restoreReport(rt, restoreHandler, payload);

/** Every key under `prefix`, through the adapter's listing (EncodingType=url), in S3 order. */
async function listed(bucket: string, prefix: string): Promise<string[]> {
  const store = new S3ObjectStore(rt.s3, bucket);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, token, maxKeys: 3 });
    keys.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token);
  return keys;
}

async function deleteAtSource(keys: readonly string[]): Promise<void> {
  // One DeleteObject per key: the key travels in the URL path, percent-encoded, never through XML.
  for (const Key of keys) await rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key }));
  await rt.drain(scaled(60_000));
}

beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true, env: { S3DR_DELETE_POLICY: 'retain' } });
  source = rt.config.sourceBuckets[0]!;
  verifyHandler = (await import('../../functions/verify.ts')).handler as unknown as VerifyHandler;
  restoreHandler = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

describe('keys with CR, LF, CRLF, tab and a trailing space on the local runtime', () => {
  let before: (ObjectSnapshot | undefined)[];

  it('replicates them and verifies them ok: no drift, nothing listed out of order', async () => {
    for (const [i, key] of KEYS.entries()) {
      await putObject(rt.s3, source, key, bodyFor(key, 1, 100 + i), { metadata: { index: String(i) } });
    }
    await rt.drain(scaled(60_000));
    before = await snapshots(rt.s3, source, KEYS);
    expect(before.every((s) => s !== undefined)).toBe(true);
    expect(await snapshots(rt.s3, rt.config.drBucket, KEYS)).toEqual(before);
    expect(await listed(rt.config.drBucket, 'ctl/')).toEqual(KEYS);

    for (let pass = 0; pass < 2; pass++) {
      const report = await verify({ prefix: 'ctl/', graceSeconds: 0 });
      expect(report.pass.complete).toBe(true);
      expect(report.counts).toEqual({
        ok: KEYS.length,
        missing: 0,
        mismatched: 0,
        orphaned: 0,
        pending: 0,
        unreplicable: 0,
      });
      expect(report.listingDisorder.count).toBe(0);
    }
  }, 120_000);

  it('restores a deleted `cr/a\\rb` named by key', async () => {
    const key = 'ctl/cr/a\rb';
    await deleteAtSource([key]);
    expect(await snapshots(rt.s3, source, [key])).toEqual([undefined]);

    const report = await restore({ keys: [key], includeDeleted: true, dryRun: false });

    expect(report.plan['skip-no-version'].objects).toBe(0);
    expect(report.results?.restored.sample).toEqual([key]);
    expect(await snapshots(rt.s3, source, [key])).toEqual([before[KEYS.indexOf(key)]]);
    await rt.drain(scaled(60_000));
  }, 120_000);

  it('restores the whole prefix after every key was deleted: the same keys and bytes come back', async () => {
    await deleteAtSource(KEYS);
    expect(await listed(source, 'ctl/')).toEqual([]);

    const report = await restore({ prefix: 'ctl/', includeDeleted: true, dryRun: false });

    expect(report.complete).toBe(true);
    expect(report.failures).toEqual([]);
    expect(report.results?.restored.objects).toBe(KEYS.length);
    expect(await listed(source, 'ctl/')).toEqual(KEYS);
    expect(await snapshots(rt.s3, source, KEYS)).toEqual(before);
    await rt.drain(scaled(60_000));
  }, 120_000);
});
