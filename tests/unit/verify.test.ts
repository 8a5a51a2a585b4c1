import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { logger, metrics } from '../../lib/aws/observability.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { compareKeys } from '../../lib/core/key-order.ts';
import type { TaskQueue } from '../../lib/core/ports.ts';
import type { Task } from '../../lib/core/task.ts';
import { type VerifyBucketSettings, verifyBucket } from '../../lib/verify/bucket.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { aContext } from '../helpers/builders.ts';
import { bareBadRequest, sseCustomerKeyRequired } from '../helpers/s3-errors.ts';
import { silentLog } from '../helpers/telemetry.ts';
import { verifyRun } from '../helpers/verify.ts';

const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);
const { createRuntime } = await import('../../functions/runtime.ts');
const runtime = createRuntime();

const SOURCE = 'source-bucket';
const DR = 'dr-bucket';
const OLD = new Date('2026-01-01T00:00:00Z');

// ---------------------------------------------------------------- an in-memory S3 behind the SDK mock

interface StoredObject {
  etag: string;
  size: number;
  lastModified: Date;
  metadata: Record<string, string>;
  body: string;
  checksumSha256?: string;
  storageClass?: string;
  /** x-amz-archive-status (Intelligent-Tiering archive tiers). */
  archiveStatus?: string;
  /** x-amz-restore. */
  restore?: string;
  /** Written with a customer-provided key: S3 reads it (HEAD too) only with that key. */
  sseC?: boolean;
}

let buckets: Map<string, Map<string, StoredObject>>;
/** How the fake S3 sorts a listing: S3's order, or fauxqs 2.4.1's `localeCompare`. */
let listOrder: (a: string, b: string) => number;
/** The source bucket's listing order, when it differs from the DR bucket's. */
let sourceListOrder: ((a: string, b: string) => number) | undefined;
/** S3 may return fewer keys than MaxKeys; tests page in small steps to cross many page boundaries. */
let pageCap: number;
/**
 * Whether a common prefix equal to `StartAfter` is listed again (as S3 may: the keys under it come after
 * it). fauxqs, patched, skips it; the verifier must be right either way.
 */
let repeatPrefixAtStartAfter = false;
/** An error the fake S3 answers a source listing's continuation page with, once (a throttled page). */
let sourceContinuationFault: Error | undefined;
/**
 * An endpoint that ignores `EncodingType=url` and writes keys raw into the XML, where XML 1.0 end-of-line
 * handling turns CRLF and CR into LF (what S3 itself does for a request without the parameter).
 */
let ignoreEncodingType = false;

/** S3's listing encoding (EncodingType=url): UTF-8 percent-encoding, `/` kept, space as `+`. */
const s3Encode = (key: string) =>
  encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/')
    .replace(/%20/g, '+');
/** What a client's XML parser makes of a raw key: CRLF and lone CR become LF. */
const throughXml = (key: string) => key.replace(/\r\n?/g, '\n');

const bucketOf = (name: string) => {
  const b = buckets.get(name);
  if (!b) throw new Error(`no bucket ${name}`);
  return b;
};

function put(bucket: string, key: string, o: Partial<StoredObject> = {}): void {
  const body = o.body ?? `body of ${key}`;
  bucketOf(bucket).set(key, {
    etag: o.etag ?? `etag-${key}`,
    size: o.size ?? body.length,
    lastModified: o.lastModified ?? OLD,
    metadata: o.metadata ?? {},
    body,
    ...(o.checksumSha256 ? { checksumSha256: o.checksumSha256 } : {}),
    ...(o.storageClass ? { storageClass: o.storageClass } : {}),
    ...(o.archiveStatus ? { archiveStatus: o.archiveStatus } : {}),
    ...(o.restore ? { restore: o.restore } : {}),
    ...(o.sseC ? { sseC: true } : {}),
  });
}

/** Puts the same object in source and DR (a faithful copy). */
function replicated(key: string, o: Partial<StoredObject> = {}): void {
  put(SOURCE, key, o);
  put(DR, key, o);
}

const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });

/** Empty source and DR buckets, listed in S3's order, a full page at a time. */
function emptyBuckets(): void {
  buckets = new Map([
    [SOURCE, new Map()],
    [DR, new Map()],
  ]);
  listOrder = compareKeys;
  pageCap = 1000;
  repeatPrefixAtStartAfter = false;
  ignoreEncodingType = false;
  sourceListOrder = undefined;
  sourceContinuationFault = undefined;
}

function installFakeS3(): void {
  s3.on(ListObjectsV2Command).callsFake((input) => {
    const encoded = input.EncodingType === 'url' && !ignoreEncodingType;
    const wire = encoded ? s3Encode : throughXml;
    const answer = (page: {
      Contents: { Key: string; ETag: string; Size: number; LastModified: Date }[];
      CommonPrefixes: { Prefix: string }[];
      IsTruncated: boolean;
      NextContinuationToken?: string;
    }) => ({
      ...page,
      Contents: page.Contents.map((o) => ({ ...o, Key: wire(o.Key) })),
      CommonPrefixes: page.CommonPrefixes.map((p) => ({ Prefix: wire(p.Prefix) })),
      ...(encoded ? { EncodingType: 'url' as const } : {}),
    });
    if (input.Bucket === SOURCE && input.ContinuationToken && sourceContinuationFault) {
      const fault = sourceContinuationFault;
      sourceContinuationFault = undefined;
      throw fault;
    }
    const prefix = input.Prefix ?? '';
    const from = input.ContinuationToken
      ? Buffer.from(input.ContinuationToken, 'base64url').toString('utf8')
      : (input.StartAfter ?? '');
    const max = Math.min(input.MaxKeys ?? 1000, pageCap);
    const keys = [...bucketOf(input.Bucket).keys()]
      .filter((k) => k.startsWith(prefix))
      .sort(input.Bucket === SOURCE ? (sourceListOrder ?? listOrder) : listOrder);
    const contents: {
      Key: string;
      ETag: string;
      Size: number;
      LastModified: Date;
      StorageClass: string;
    }[] = [];
    const prefixes: string[] = [];
    let last = '';
    for (const key of keys) {
      if (from && compareKeys(key, from) <= 0) continue;
      const cut = input.Delimiter ? key.indexOf(input.Delimiter, prefix.length) : -1;
      const entry = cut >= 0 ? key.slice(0, cut + 1) : key;
      const before = from ? compareKeys(entry, from) : 1;
      const listedAlready = input.ContinuationToken || !repeatPrefixAtStartAfter ? before <= 0 : before < 0;
      if (cut >= 0 && (prefixes.includes(entry) || listedAlready)) continue;
      if (contents.length + prefixes.length === max) {
        return answer({
          Contents: contents,
          CommonPrefixes: prefixes.map((Prefix) => ({ Prefix })),
          IsTruncated: true,
          NextContinuationToken: Buffer.from(last, 'utf8').toString('base64url'),
        });
      }
      if (cut >= 0) prefixes.push(entry);
      else {
        const o = bucketOf(input.Bucket).get(key)!;
        // ListObjectsV2 gives each object's storage class (STANDARD when none was chosen), never SSE-C
        // or an Intelligent-Tiering access tier.
        contents.push({
          Key: key,
          ETag: `"${o.etag}"`,
          Size: o.size,
          LastModified: o.lastModified,
          StorageClass: o.storageClass ?? 'STANDARD',
        });
      }
      last = entry;
    }
    return answer({
      Contents: contents,
      CommonPrefixes: prefixes.map((Prefix) => ({ Prefix })),
      IsTruncated: false,
    });
  });
  s3.on(HeadObjectCommand).callsFake((input) => {
    const o = bucketOf(input.Bucket).get(input.Key);
    if (!o) throw notFound();
    if (o.sseC) throw bareBadRequest();
    return {
      ETag: `"${o.etag}"`,
      ContentLength: o.size,
      LastModified: o.lastModified,
      Metadata: o.metadata,
      StorageClass: o.storageClass,
      ArchiveStatus: o.archiveStatus,
      Restore: o.restore,
    };
  });
  s3.on(GetObjectCommand).callsFake((input) => {
    const o = bucketOf(input.Bucket).get(input.Key);
    if (!o)
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    if (o.sseC) throw sseCustomerKeyRequired();
    // A stream body, as the SDK returns it (iterable, with transformToString).
    const body = Object.assign(Readable.from([Buffer.from(o.body)]), {
      transformToString: async () => o.body,
    });
    return { Body: body, ETag: `"${o.etag}"` };
  });
  s3.on(PutObjectCommand).callsFake((input) => {
    put(input.Bucket, input.Key, { body: String(input.Body), etag: `put-${Date.now()}` });
    return { ETag: '"put"' };
  });
  s3.on(DeleteObjectCommand).callsFake((input) => {
    bucketOf(input.Bucket).delete(input.Key);
    return {};
  });
  s3.on(GetObjectAttributesCommand).callsFake((input) => {
    const o = bucketOf(input.Bucket).get(input.Key);
    if (!o)
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    return {
      ETag: `"${o.etag}"`,
      Checksum: o.checksumSha256
        ? { ChecksumSHA256: o.checksumSha256, ChecksumType: 'FULL_OBJECT' }
        : undefined,
    };
  });
  // Deep mode with copyTags (the default) compares tag sets; these objects have none: an empty TagSet.
  s3.on(GetObjectTaggingCommand).callsFake((input) => {
    if (!bucketOf(input.Bucket).has(input.Key))
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    return { TagSet: [] };
  });
}

// ---------------------------------------------------------------- helpers

const sentTasks = (): Task[] =>
  sqs
    .commandCalls(SendMessageBatchCommand)
    .flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => JSON.parse(e.MessageBody ?? '') as Task);

const headedKeys = () =>
  s3
    .commandCalls(HeadObjectCommand)
    .map((c) => c.args[0].input.Key)
    .sort();

const listCalls = () => s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);

const stored = (bucket: string, key: string) => bucketOf(bucket).get(key)?.body;

const fixture = async (name: string) =>
  JSON.parse(await readFile(new URL(`../../events/${name}`, import.meta.url), 'utf8'));

/** One verify run, as a verify job's run message makes it (tests/helpers/verify.ts). */
const verify = async (payload: unknown = {}, context: Context = aContext()) =>
  verifyRun(runtime, payload, context);

/**
 * A context whose deadline arrives after the verifier has looked at the clock `checks` times (about once
 * per key): a deadline measured in progress rather than wall time, so the test is exact and fast.
 */
function contextOutOfTimeAfter(checks: number): Context {
  let left = checks;
  return { ...aContext(), getRemainingTimeInMillis: () => (left-- > 0 ? 60_000 : 0) };
}

const sorted = (keys: string[]) => [...keys].sort(compareKeys);

describe('verify', () => {
  beforeEach(() => {
    s3.reset();
    sqs.reset();
    emptyBuckets();
    installFakeS3();
    sqs.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.map((e: { Id: string }) => ({
        Id: e.Id,
        MessageId: e.Id,
        MD5OfMessageBody: 'x',
      })),
      Failed: [],
    }));
  });

  it('reports every key ok with no HEAD, no repair and a complete pass when DR is an exact copy', async () => {
    for (let i = 0; i < 40; i++) replicated(`photos/${i % 4}/img-${i}.jpg`);
    replicated('README.md');

    const report = await verify();

    expect(report.counts).toEqual({
      ok: 41,
      missing: 0,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(report.pass).toEqual({ complete: true, cursor: null, progress: 1 });
    expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('HEADs the DR copy only where ETags differ with equal sizes, and trusts its recorded source ETag', async () => {
    replicated('same.txt');
    put(SOURCE, 'kms.txt', { etag: 'source-etag', body: 'abc' });
    put(DR, 'kms.txt', {
      etag: 'other-etag-kms',
      body: 'abc',
      metadata: { 's3dr-source-etag': 'source-etag' },
    });
    put(SOURCE, 'altered.txt', { etag: 'source-etag-2', body: 'abc' });
    put(DR, 'altered.txt', { etag: 'tampered', body: 'abd' });
    put(SOURCE, 'resized.txt', { etag: 'e1', body: 'abc' });
    put(DR, 'resized.txt', { etag: 'e2', body: 'abcd' });

    const report = await verify({ repair: false });

    expect(headedKeys()).toEqual(['altered.txt', 'kms.txt']);
    expect(report.counts).toMatchObject({ ok: 2, mismatched: 2 });
    expect(sorted(report.samples.mismatched)).toEqual(['altered.txt', 'resized.txt']);
    expect(report.requests.head).toBe(2);
  });

  it('queues a Verify:Repair task for missing, mismatched and (under mirror) orphaned keys only', async () => {
    replicated('ok.txt');
    put(SOURCE, 'missing.txt');
    put(SOURCE, 'changed.txt', { body: 'new!' });
    put(DR, 'changed.txt', { body: 'old' });
    put(DR, 'orphan.txt');
    put(SOURCE, 'fresh.txt', { lastModified: new Date() });

    const report = await verify();

    expect(report.counts).toEqual({
      ok: 1,
      missing: 1,
      mismatched: 1,
      orphaned: 1,
      pending: 1,
      unreplicable: 0,
    });
    expect(report.repairsQueued).toBe(3);
    const tasks = sentTasks();
    expect(tasks.map((t) => t.key).sort()).toEqual(['changed.txt', 'missing.txt', 'orphan.txt']);
    for (const task of tasks) {
      expect(task).toMatchObject({ v: 1, bucket: SOURCE, eventName: 'Verify:Repair' });
      expect(Math.abs(Date.parse(task.eventTime) - Date.now())).toBeLessThan(60_000);
    }
    expect(tasks.find((t) => t.key === 'missing.txt')).toMatchObject({ etag: 'etag-missing.txt', size: 19 });
  });

  it('reports source keys S3 cannot copy as unreplicable with their reason, not missing, and repairs none of them', async () => {
    // Archived without a restored copy (S3 User Guide, "Restoring an archived object"; Intelligent-Tiering
    // archive tiers show x-amz-archive-status) or SSE-C ("Using server-side encryption with customer-provided
    // keys"): a repair task could only fail again. A restored copy (ongoing-request="false") is copyable.
    replicated('ok.txt');
    put(SOURCE, 'cold/2019.csv', { storageClass: 'GLACIER' });
    put(SOURCE, 'cold/2015.csv', { storageClass: 'DEEP_ARCHIVE', restore: 'ongoing-request="true"' });
    put(SOURCE, 'it/archived.bin', { storageClass: 'INTELLIGENT_TIERING', archiveStatus: 'ARCHIVE_ACCESS' });
    put(SOURCE, 'secret.bin', { sseC: true });
    put(SOURCE, 'cold/thawed.csv', {
      storageClass: 'GLACIER',
      restore: 'ongoing-request="false", expiry-date="Sat, 28 Nov 2026 00:00:00 GMT"',
    });
    put(SOURCE, 'lost.txt');
    put(SOURCE, 'glacier-ir.bin', { storageClass: 'GLACIER_IR' });

    const addMetric = jest.spyOn(metrics, 'addMetric');
    let report: VerifyReport;
    let published: Record<string, unknown>;
    try {
      report = await verify();
      published = Object.fromEntries(addMetric.mock.calls.map(([name, , value]) => [name, value]));
    } finally {
      addMetric.mockRestore();
    }

    expect(report.counts).toEqual({
      ok: 1,
      missing: 3,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 4,
    });
    expect(sorted(report.samples.missing)).toEqual(['cold/thawed.csv', 'glacier-ir.bin', 'lost.txt']);
    expect(report.unreplicable.byReason).toEqual({
      'archived-glacier': 1,
      'archived-deep-archive': 1,
      'archived-intelligent-tiering-archive': 1,
      'sse-c': 1,
    });
    expect(report.unreplicable.samples).toContainEqual({ key: 'secret.bin', reason: 'sse-c' });
    expect(report.unreplicable.samples).toContainEqual({ key: 'cold/2019.csv', reason: 'archived-glacier' });
    expect(sorted(sentTasks().map((t) => t.key))).toEqual(['cold/thawed.csv', 'glacier-ir.bin', 'lost.txt']);
    // The drift alarm's metric leaves them out; their own metric counts them.
    expect(published).toMatchObject({ VerifyMissing: 3, VerifyUnreplicable: 4, VerifyObjectsChecked: 8 });
    // One source HEAD per key DR lacks (the SSE-C one also a one-byte GET): none for the copied key.
    expect(headedKeys()).not.toContain('ok.txt');
    expect(report.requests.head).toBe(7);
  });

  it('queues nothing with repair: false, and still reports the drift', async () => {
    put(SOURCE, 'missing.txt');
    put(DR, 'orphan.txt');
    const report = await verify({ repair: false });
    expect(report.counts).toMatchObject({ missing: 1, orphaned: 1 });
    expect(report.repairsQueued).toBe(0);
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('calls a recently modified source key pending, not drift, until graceSeconds have passed', async () => {
    const tenSecondsAgo = new Date(Date.now() - 10_000);
    put(SOURCE, 'in-flight.txt', { lastModified: tenSecondsAgo });
    put(SOURCE, 'overwritten.txt', { lastModified: tenSecondsAgo, body: 'v2', etag: 'etag-v2' });
    put(DR, 'overwritten.txt', { body: 'v1', etag: 'etag-v1' });

    const withinGrace = await verify({ repair: false });
    expect(withinGrace.counts).toMatchObject({ pending: 2, missing: 0, mismatched: 0 });
    expect(sorted(withinGrace.samples.pending)).toEqual(['in-flight.txt', 'overwritten.txt']);

    const pastGrace = await verify({ repair: false, graceSeconds: 5 });
    expect(pastGrace.counts).toMatchObject({ pending: 0, missing: 1, mismatched: 1 });
  });

  it('reports keys listed out of UTF-8 byte order (fauxqs 2.4.1 localeCompare), neither classifies nor repairs them, and completes the pass', async () => {
    listOrder = (a, b) => a.localeCompare(b);
    replicated('apple.txt');
    replicated('Banana.txt');
    for (let run = 0; run < 2; run++) {
      const report = await verify();
      expect(report.pass.complete).toBe(true);
      expect(report.counts).toEqual({
        ok: 1,
        missing: 0,
        mismatched: 0,
        orphaned: 0,
        pending: 0,
        unreplicable: 0,
      });
      expect(report.listingDisorder).toEqual({
        count: 2,
        samples: [
          { listing: 'source', key: 'Banana.txt', after: 'apple.txt', kind: 'goes backwards' },
          { listing: 'DR', key: 'Banana.txt', after: 'apple.txt', kind: 'goes backwards' },
        ],
      });
    }
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('does not take the partner of a key listed out of order on one side for drift', async () => {
    // Only the source lists out of order: DR's `Banana.txt` has no partner in the join, yet is not orphaned.
    replicated('apple.txt');
    replicated('Banana.txt');
    sourceListOrder = (a, b) => a.localeCompare(b);
    const report = await verify({ repair: true });
    expect(report.counts).toEqual({
      ok: 1,
      missing: 0,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(report.listingDisorder.samples).toEqual([
      { listing: 'source', key: 'Banana.txt', after: 'apple.txt', kind: 'goes backwards' },
    ]);
    expect(sentTasks()).toEqual([]);
  });

  it('lists with EncodingType=url: keys with CR, LF, CRLF, tab and a trailing space verify ok, p/a\\rb beside p/a\\nb included', async () => {
    const keys = [
      'cr/a\rb',
      'p/a\rb',
      'p/a\nb',
      'crlf/a\r\nb',
      'tab/a\tb',
      'space at end ',
      'plus/a+b',
      'pct/100%',
    ];
    for (const key of keys) replicated(key);
    const report = await verify({ repair: true });
    expect(report.counts).toEqual({
      ok: keys.length,
      missing: 0,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(report.listingDisorder.count).toBe(0);
    expect(sentTasks()).toEqual([]);
    expect(listCalls().every((c) => c.EncodingType === 'url')).toBe(true);
  });

  it('never stops a pass when an endpoint ignores EncodingType=url and p/a\\rb lists as a second p/a\\nb', async () => {
    ignoreEncodingType = true;
    replicated('p/a\rb');
    replicated('p/a\nb');
    for (let run = 0; run < 2; run++) {
      const report = await verify({ repair: true });
      expect(report.pass.complete).toBe(true);
      expect(report.counts).toMatchObject({ ok: 1, missing: 0, orphaned: 0 });
      expect(report.listingDisorder.samples.map((d) => [d.listing, d.key, d.kind])).toEqual([
        ['source', 'p/a\nb', 'repeats'],
        ['DR', 'p/a\nb', 'repeats'],
      ]);
    }
    expect(sentTasks()).toEqual([]);
  });

  it('never compares or repairs s3-dr’s own state under .s3dr/ in the DR bucket', async () => {
    replicated('a.txt');
    put(DR, '.s3dr/verify/old-cursor.json');
    put(DR, '.s3dr/reports/verify/x.json');
    const report = await verify();
    expect(report.counts).toEqual({
      ok: 1,
      missing: 0,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(sentTasks()).toEqual([]);
  });

  it('writes the report under .s3dr/reports/verify/ and the cursor at .s3dr/verify/<source>.json', async () => {
    replicated('a.txt');
    put(SOURCE, 'b.txt');
    const report = await verify();
    expect(report.reportKey).toMatch(
      /^\.s3dr\/reports\/verify\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-[0-9a-f]{8}\.json$/,
    );
    expect(JSON.parse(stored(DR, report.reportKey) ?? '')).toEqual(report);
    const cursor = JSON.parse(stored(DR, '.s3dr/verify/source-bucket.json') ?? '');
    expect(cursor).toMatchObject({
      source: SOURCE,
      work: [],
      pass: { completedAt: expect.any(String), runs: 1 },
    });
    expect(report.buckets[0]?.pass).toMatchObject({ complete: true, counts: report.counts, runs: 1 });
  });

  it('publishes the verify metrics, with VerifyPassComplete 1 only when the pass completes', async () => {
    const addMetric = jest.spyOn(metrics, 'addMetric');
    try {
      replicated('a.txt');
      put(SOURCE, 'gone-from-dr.txt');
      put(DR, 'extra.txt');
      await verify();
      const published = Object.fromEntries(addMetric.mock.calls.map(([name, , value]) => [name, value]));
      expect(published).toMatchObject({
        VerifyObjectsChecked: 3,
        VerifyMissing: 1,
        VerifyMismatched: 0,
        VerifyOrphaned: 1,
        VerifyPassComplete: 1,
        VerifyDurationMs: expect.any(Number),
      });

      addMetric.mockClear();
      await verify({}, contextOutOfTimeAfter(0));
      expect(addMetric).toHaveBeenCalledWith('VerifyPassComplete', 'Count', 0);
    } finally {
      addMetric.mockRestore();
    }
  });

  it('stops before the deadline, stores a cursor, and the next run resumes there until the pass is complete', async () => {
    pageCap = 5;
    const keys: string[] = [];
    for (let p = 0; p < 6; p++)
      for (let i = 0; i < 12; i++) keys.push(`p${p}/k${String(i).padStart(2, '0')}`);
    for (const key of keys) put(SOURCE, key);
    for (const key of keys.slice(10)) put(DR, key);

    const first = await verify({ repair: false }, contextOutOfTimeAfter(20));
    expect(first.pass.complete).toBe(false);
    expect(first.pass.cursor).toBe('s3://dr-bucket/.s3dr/verify/source-bucket.json');
    expect(first.pass.progress).toBeLessThan(1);
    const checkedFirst = Object.values(first.counts).reduce((a, b) => a + b, 0);
    expect(checkedFirst).toBeLessThan(keys.length);

    s3.resetHistory();
    const runs = [first];
    for (let i = 0; i < 30 && !runs.at(-1)?.pass.complete; i++) {
      runs.push(await verify({ repair: false }, contextOutOfTimeAfter(20)));
    }
    const last = runs.at(-1)!;
    expect(last.pass.complete).toBe(true);
    expect(runs.length).toBeGreaterThan(2);
    // Every key was classified exactly once over the pass: nothing skipped, nothing counted twice.
    const total = { ok: 0, missing: 0, mismatched: 0, orphaned: 0, pending: 0, unreplicable: 0 };
    for (const r of runs) for (const [c, n] of Object.entries(r.counts)) total[c as keyof typeof total] += n;
    expect(total).toEqual({
      ok: keys.length - 10,
      missing: 10,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(last.buckets[0]?.pass).toMatchObject({
      counts: total,
      runs: runs.length,
      id: first.buckets[0]?.pass.id,
    });
    // The second run resumed from the cursor: its listings start after keys the first run compared.
    expect(runs[1]!.buckets[0]?.pass.runs).toBe(2);
    expect(listCalls().some((c) => c.StartAfter !== undefined)).toBe(true);
  });

  it('reads no ETag ledger after a pass that needed none: the cursor is its only GET', async () => {
    for (let i = 0; i < 20; i++) replicated(`p${i % 4}/k${i}`);
    await verify();
    s3.resetHistory();
    await verify();
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      '.s3dr/verify/source-bucket.json',
    ]);
  });

  it('starts a new pass after a complete one (the cursor wraps)', async () => {
    replicated('a.txt');
    const first = await verify();
    const second = await verify();
    expect(first.pass.complete && second.pass.complete).toBe(true);
    expect(second.buckets[0]?.pass.id).not.toBe(first.buckets[0]?.pass.id);
    expect(second.buckets[0]?.pass.runs).toBe(1);
  });

  it('resumes a pass whose cursor was written before the unreplicable class existed', async () => {
    pageCap = 2;
    for (let i = 0; i < 12; i++) replicated(`p${i % 3}/k${i}`);
    const first = await verify({}, contextOutOfTimeAfter(4));
    expect(first.pass.complete).toBe(false);
    // What the previous version stored: the same cursor, without the class in its counts.
    const key = '.s3dr/verify/source-bucket.json';
    const cursor = JSON.parse(stored(DR, key) ?? '');
    delete cursor.pass.counts.unreplicable;
    put(DR, key, { body: JSON.stringify(cursor) });

    const second = await verify();

    expect(second.buckets[0]?.pass).toMatchObject({ complete: true, runs: 2 });
    expect(second.buckets[0]?.pass.counts).toMatchObject({ ok: 12, unreplicable: 0 });
  });

  it('starts over, and says why, when the stored cursor is not one it wrote', async () => {
    replicated('a.txt');
    put(DR, '.s3dr/verify/source-bucket.json', { body: '{"version":1,"work":"nonsense"}' });
    const warn = jest.spyOn(logger, 'warn');
    try {
      const report = await verify();
      expect(report.counts.ok).toBe(1);
      expect(report.pass.complete).toBe(true);
      expect(warn).toHaveBeenCalledWith(
        'verify cursor is not valid; starting a new pass',
        expect.objectContaining({
          key: '.s3dr/verify/source-bucket.json',
          reason: expect.stringMatching(/work/),
        }),
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('rejects unknown payload fields by name, and bad values with what they accept', async () => {
    await expect(verify({ prefix: 'a/', colour: 'blue' })).rejects.toThrow(
      /Invalid verify payload: colour: is not a verify option \(allowed: source, prefix, repair, deep, graceSeconds\)/,
    );
    await expect(verify({ repair: 'no' })).rejects.toThrow(/repair: must be true or false/);
    await expect(verify({ deep: 2 })).rejects.toThrow(/deep: must be true, false, or a sample rate/);
    await expect(verify({ source: 'someone-else' })).rejects.toThrow(
      /source: "someone-else" is not a protected source bucket/,
    );
    expect(s3).not.toHaveReceivedCommand(ListObjectsV2Command);
  });

  it('takes the schedule’s EventBridge event as the default run, and the prefix fixture as a scoped one', async () => {
    replicated('photos/a.jpg');
    put(SOURCE, 'videos/b.mp4');
    const scheduled = await verify(await fixture('verify-schedule.json'));
    expect(scheduled.counts).toMatchObject({ ok: 1, missing: 1 });
    expect(scheduled.repair).toBe(true);

    s3.resetHistory();
    const scoped = await verify(await fixture('verify-prefix.json'));
    expect(scoped).toMatchObject({ prefix: 'photos/', repair: false, counts: { ok: 1, missing: 0 } });
    expect(
      listCalls()
        .filter((c) => c.Bucket === SOURCE)
        .map((c) => c.Prefix?.slice(0, 7)),
    ).toEqual(['photos/']);
    // An ad-hoc scope keeps its own cursor, so it never disturbs the scheduled pass.
    expect(scoped.buckets[0]?.pass.cursor ?? scoped.pass.cursor).toBeNull();
    expect(
      [...bucketOf(DR).keys()].filter((k) => k.startsWith('.s3dr/verify/source-bucket/scope-')),
    ).toHaveLength(1);
  });

  it('deep mode compares checksums where both copies have one, else hashes both, and reports the method', async () => {
    replicated('with-checksum.bin', { checksumSha256: 'c2hhMjU2' });
    put(SOURCE, 'no-checksum.bin', { etag: 'e', body: 'same bytes' });
    put(DR, 'no-checksum.bin', { etag: 'e', body: 'same bytes' });
    put(SOURCE, 'rotten.bin', { etag: 'e2', body: 'good bytes' });
    put(DR, 'rotten.bin', { etag: 'e2', body: 'evil bytes' });

    const report = await verify({ deep: true, repair: false });

    expect(report.counts).toMatchObject({ ok: 2, mismatched: 1 });
    expect(report.samples.mismatched).toEqual(['rotten.bin']);
    expect(report.buckets[0]?.deep?.methods).toEqual({ 'checksum:SHA256': 1, 'hash:sha256': 2 });
    expect(report.requests).toMatchObject({ attributes: 6, get: 4 });
  });

  it('names the DR copy to rewrite when deep mode finds other bytes behind a matching recorded ETag', async () => {
    replicated('fine.bin');
    put(SOURCE, 'forged.bin', { etag: 'e3', body: 'good bytes' });
    put(DR, 'forged.bin', { etag: 'kms-x', body: 'evil bytes', metadata: { 's3dr-source-etag': 'e3' } });
    put(SOURCE, 'rotten.bin', { etag: 'e2', body: 'good bytes' });
    put(DR, 'rotten.bin', { etag: 'e2', body: 'evil bytes' });

    const shallow = await verify({ repair: false });
    expect(shallow.counts).toMatchObject({ ok: 3, mismatched: 0 });

    const report = await verify({ deep: true });

    expect(report.counts).toMatchObject({ ok: 1, mismatched: 2 });
    const tasks = sentTasks().sort((a, b) => compareKeys(a.key, b.key));
    expect(tasks).toEqual([
      expect.objectContaining({ key: 'forged.bin', etag: 'e3', drEtag: 'kms-x' }),
      expect.objectContaining({ key: 'rotten.bin', etag: 'e2', drEtag: 'e2' }),
    ]);
  });
});

describe('verifyBucket', () => {
  const queue = (sent: Task[]): TaskQueue => ({ send: async (tasks) => void sent.push(...tasks) });
  const settings = (overrides: Partial<VerifyBucketSettings> = {}): VerifyBucketSettings => ({
    keyLayout: 'flat',
    deletePolicy: 'mirror',
    concurrency: 4,
    safetyMarginMs: 1000,
    graceSeconds: 900,
    prefix: '',
    repair: true,
    deep: 0,
    ...overrides,
  });
  const deps = (sent: Task[]) => {
    const client = new S3Client({ region: 'eu-west-1' });
    return {
      source: new S3ObjectStore(client, SOURCE),
      dr: new S3ObjectStore(client, DR),
      queue: queue(sent),
      clock: { now: () => new Date(), remainingMs: () => 60_000 },
      log: silentLog,
    };
  };

  beforeEach(() => {
    s3.reset();
    emptyBuckets();
    installFakeS3();
  });

  it('with thawArchivedSources, queues repairs for archived keys (replicate restores them), never for SSE-C', async () => {
    put(SOURCE, 'cold.csv', { storageClass: 'GLACIER' });
    put(SOURCE, 'secret.bin', { sseC: true });
    const sent: Task[] = [];
    const report = await verifyBucket(deps(sent), settings({ thawArchivedSources: true }));
    expect(report.counts.unreplicable).toBe(2);
    expect(sent.map((t) => t.key)).toEqual(['cold.csv']);
  });

  it('repairs orphans under the mirror policy and only reports them under retain', async () => {
    replicated('kept.txt');
    put(DR, 'deleted-at-source.txt');

    const mirrored: Task[] = [];
    const mirror = await verifyBucket(deps(mirrored), settings({ deletePolicy: 'mirror' }));
    expect(mirror.counts.orphaned).toBe(1);
    expect(mirrored.map((t) => t.key)).toEqual(['deleted-at-source.txt']);

    const retained: Task[] = [];
    const retain = await verifyBucket(deps(retained), settings({ deletePolicy: 'retain' }));
    expect(retain.counts.orphaned).toBe(1);
    expect(retained).toEqual([]);
  });

  // "Amazon S3 error best practices" (docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html):
  // a high request rate can draw 503 SlowDown on any request, a listing's later page included.
  it('counts each key once in a pass when a listing page is throttled (503 SlowDown) and the run retried', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const key of keys) replicated(key);
    pageCap = 10;
    sourceContinuationFault = new S3ServiceException({
      name: 'SlowDown',
      $fault: 'server',
      message: 'Please reduce your request rate.',
      $metadata: { httpStatusCode: 503 },
    });

    await expect(verifyBucket(deps([]), settings({ repair: false }))).rejects.toThrow(
      'reduce your request rate',
    );
    const retried = await verifyBucket(deps([]), settings({ repair: false }));

    expect(retried.pass.complete).toBe(true);
    expect(retried.pass.counts).toMatchObject({ ok: 30, missing: 0, orphaned: 0 });
    expect(retried.counts.ok).toBe(30);
  });

  it('maps keys under the bucket-prefixed layout and ignores other buckets’ copies in DR', async () => {
    put(SOURCE, 'a.txt', { etag: 'ea', body: 'A' });
    put(SOURCE, 'b.txt', { etag: 'eb', body: 'B' });
    put(DR, `${SOURCE}/a.txt`, { etag: 'ea', body: 'A' });
    put(DR, 'other-source/b.txt', { etag: 'eb', body: 'B' });
    const report = await verifyBucket(deps([]), settings({ keyLayout: 'bucket-prefixed', repair: false }));
    expect(report.counts).toMatchObject({ ok: 1, missing: 1, orphaned: 0 });
    expect(report.samples.missing).toEqual(['b.txt']);
  });

  it('lists a node with more prefixes than its budget in ranges: about one LIST per page, not one per prefix', async () => {
    const prefixes = 1200;
    for (let p = 0; p < prefixes; p++)
      for (let i = 0; i < 2; i++) replicated(`user-${String(p).padStart(4, '0')}/f${i}`);
    put(SOURCE, 'user-0123/new-file');
    put(SOURCE, 'top-level.txt');

    const report = await verifyBucket(deps([]), settings({ repair: false, limits: { prefixBudget: 32 } }));

    expect(report.counts).toMatchObject({ ok: prefixes * 2, missing: 2 });
    expect(report.pass.itemsDone).toBeLessThanOrEqual(1 + 32);
    // Per side: 2 pages of prefix discovery, then each of at most 32 ranges costs a page per 1,000 keys
    // plus at most one partial page — where one shard per prefix would cost 1,200.
    expect(report.requests.list).toBeLessThanOrEqual(2 * (2 + 32 * 2));
  });

  it('covers every key exactly once over time-boxed runs that stop anywhere and resume from the cursor', async () => {
    const char = fc.constantFrom('a', 'B', '/', '-', 'é', '😀');
    const keys = fc.uniqueArray(fc.string({ unit: char, minLength: 1, maxLength: 5 }), { maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(
        keys,
        keys,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 12 }),
        async (src, dst, page, budget, concurrency, steps) => {
          emptyBuckets();
          pageCap = page;
          repeatPrefixAtStartAfter = true;
          for (const k of src) put(SOURCE, k);
          for (const k of dst) put(DR, k);
          const total = { ok: 0, missing: 0, mismatched: 0, orphaned: 0, pending: 0, unreplicable: 0 };
          let complete = false;
          for (let run = 0; run < 500 && !complete; run++) {
            // Each worker looks at the clock once before taking work, then once per key.
            let left = concurrency + steps;
            const d = {
              ...deps([]),
              clock: { now: () => new Date(), remainingMs: () => (left-- > 0 ? 60_000 : 0) },
            };
            const report = await verifyBucket(
              d,
              settings({
                repair: false,
                concurrency,
                limits: { prefixBudget: budget, expandBelow: 3, maxNodes: 5 },
              }),
            );
            for (const [c, n] of Object.entries(report.counts)) total[c as keyof typeof total] += n;
            complete = report.pass.complete;
          }
          const inDst = new Set(dst);
          const inSrc = new Set(src);
          expect(complete).toBe(true);
          expect(total).toEqual({
            ok: src.filter((k) => inDst.has(k)).length,
            missing: src.filter((k) => !inDst.has(k)).length,
            mismatched: 0,
            orphaned: dst.filter((k) => !inSrc.has(k)).length,
            pending: 0,
            unreplicable: 0,
          });
        },
      ),
      { numRuns: 120 },
    );
  });

  it('classifies exactly the set differences for any key sets, page sizes, shard limits and concurrency', async () => {
    const char = fc.constantFrom('a', 'B', '/', '-', '.', 'é', '\ue000', '😀');
    const keys = fc.uniqueArray(fc.string({ unit: char, minLength: 1, maxLength: 6 }), { maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(
        keys,
        keys,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        async (src, dst, page, budget, concurrency) => {
          emptyBuckets();
          pageCap = page;
          for (const k of src) put(SOURCE, k);
          for (const k of dst) put(DR, k);
          const report = await verifyBucket(
            deps([]),
            settings({
              repair: false,
              concurrency,
              limits: { prefixBudget: budget, expandBelow: 3, maxNodes: 6, maxDepth: 2 },
            }),
          );
          const inDst = new Set(dst);
          const inSrc = new Set(src);
          expect(report.pass.complete).toBe(true);
          expect(report.counts).toEqual({
            ok: src.filter((k) => inDst.has(k)).length,
            missing: src.filter((k) => !inDst.has(k)).length,
            mismatched: 0,
            orphaned: dst.filter((k) => !inSrc.has(k)).length,
            pending: 0,
            unreplicable: 0,
          });
          expect(sorted(report.samples.missing)).toEqual(sorted(src.filter((k) => !inDst.has(k))));
          expect(sorted(report.samples.orphaned)).toEqual(sorted(dst.filter((k) => !inSrc.has(k))));
        },
      ),
      { numRuns: 150 },
    );
  });
});

// Under SSE-KMS the DR ETag is not the source's ("Object", Amazon S3 API Reference: ETag), and replicate's
// copies into a KMS bucket record nothing. S3 keeps a full-object checksum with each object, computed on the
// plaintext and returned by GetObjectAttributes ("Checking object integrity in Amazon S3",
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html): it decides once,
// and the ETag ledger under .s3dr/ spares later passes every request for keys that did not change.
describe('verify under SSE-KMS: checksums once, then the ETag ledger', () => {
  beforeEach(() => {
    s3.reset();
    sqs.reset();
    emptyBuckets();
    installFakeS3();
  });

  /** A source object and its KMS DR copy: other ETag, same bytes and full-object checksum, no record. */
  function kmsCopy(key: string, version = 'v1'): void {
    const body = `${version} of ${key}`;
    put(SOURCE, key, { etag: `src-${version}-${key}`, body, checksumSha256: `sum-${body}` });
    put(DR, key, { etag: `kms-${version}-${key}`, body, checksumSha256: `sum-${body}` });
  }
  const heads = () => s3.commandCalls(HeadObjectCommand).length;
  const attributes = () => s3.commandCalls(GetObjectAttributesCommand).length;
  const ledgerPieces = () => [...bucketOf(DR).keys()].filter((k) => k.includes('/ledger/')).sort();

  it('calls a KMS copy that records nothing ok by equal checksums, mismatched by different or missing ones', async () => {
    kmsCopy('same.bin');
    put(SOURCE, 'other.bin', { etag: 's1', body: 'abc', checksumSha256: 'x' });
    put(DR, 'other.bin', { etag: 'k1', body: 'abd', checksumSha256: 'y' });
    put(SOURCE, 'unknown.bin', { etag: 's2', body: 'abc' });
    put(DR, 'unknown.bin', { etag: 'k2', body: 'abc' });
    const report = await verify({ repair: false });
    expect(report.counts).toMatchObject({ ok: 1, mismatched: 2 });
    expect(sorted(report.samples.mismatched)).toEqual(['other.bin', 'unknown.bin']);
    expect(heads()).toBe(3);
    expect(attributes()).toBe(6);
  });

  it('makes no request for unchanged KMS keys on the next pass, and HEADs a changed key once', async () => {
    pageCap = 100;
    const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    for (const key of keys) kmsCopy(key);

    const first = await verify({ repair: false });
    expect(first.counts.ok).toBe(keys.length);
    expect([heads(), attributes()]).toEqual([keys.length, 2 * keys.length]);
    // Sorted pieces of at most 1,000 pairs: the ledger is never held whole.
    expect(ledgerPieces()).toHaveLength(3);

    s3.resetHistory();
    const second = await verify({ repair: false });
    expect(second.counts.ok).toBe(keys.length);
    expect([heads(), attributes()]).toEqual([0, 0]);

    kmsCopy('k/01234', 'v2');
    s3.resetHistory();
    const third = await verify({ repair: false });
    expect(third.counts.ok).toBe(keys.length);
    expect(s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.Key)).toEqual(['k/01234']);
    expect(attributes()).toBe(2);
    // Each pass deletes the pieces of the one before once read: one pass's ledger is kept.
    expect(ledgerPieces()).toHaveLength(3);
  });

  it('keeps using the ledger across time-boxed runs of one pass', async () => {
    pageCap = 50;
    const keys = Array.from({ length: 1800 }, (_, i) => `p${i % 3}/${String(i).padStart(5, '0')}`);
    for (const key of keys) kmsCopy(key);
    await verify({ repair: false });

    s3.resetHistory();
    const runs = [await verify({ repair: false }, contextOutOfTimeAfter(400))];
    for (let i = 0; i < 40 && !runs.at(-1)?.pass.complete; i++) {
      runs.push(await verify({ repair: false }, contextOutOfTimeAfter(400)));
    }
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.at(-1)?.pass.complete).toBe(true);
    expect(runs.reduce((n, r) => n + r.counts.ok, 0)).toBe(keys.length);
    expect(heads()).toBe(0);
  });

  it('does not trust a ledger pair once the listed DR ETag changed: HEAD, then checksums', async () => {
    kmsCopy('a.bin');
    await verify({ repair: false });
    // The DR copy was rewritten with other bytes of the same size.
    put(DR, 'a.bin', { etag: 'kms-forged', body: 'v1 of a.biX', checksumSha256: 'other' });
    s3.resetHistory();
    const report = await verify({ repair: false });
    expect(report.counts.mismatched).toBe(1);
    expect(heads()).toBe(1);
  });
});
