import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  NotFound,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { RestoreRefusedError } from '../../lib/core/errors.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import { aContext } from '../helpers/builders.ts';
import { md5Hex, md5OfMd5s, stubEncryptedMultipartCopy, stubMultipartCopy } from '../helpers/sdk-stubs.ts';
import { silentTelemetry } from '../helpers/telemetry.ts';

const s3 = mockClient(S3Client);
process.env.S3DR_RESTORE_TARGETS = 'restore-target';
const { telemetry } = await import('../../lib/aws/observability.ts');
const { restoreObjects } = await import('../../lib/restore/objects.ts');
const { createRuntime } = await import('../../functions/runtime.ts');
const { parseRestorePayload } = await import('../../lib/restore/payload.ts');
const { selectVersion } = await import('../../lib/restore/plan.ts');

const MiB = 1024 * 1024;
const DR = 'dr-bucket';
const SOURCE = 'source-bucket';

/** One DR entry: an object version or a delete marker. */
interface Entry {
  key: string;
  id: string;
  at: string;
  marker?: boolean;
  etag?: string;
  size?: number;
  storageClass?: string;
  metadata?: Record<string, string>;
  restore?: string;
  tagCount?: number;
}
interface TargetObject {
  etag: string;
  size: number;
}

const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
const v = (key: string, id: string, at: string, extra: Partial<Entry> = {}): Entry => ({
  key,
  id,
  at,
  etag: `etag-${id}`,
  size: 100,
  metadata: { owner: 'alice', 's3dr-source-etag': `etag-${id}` },
  ...extra,
});
const marker = (key: string, id: string, at: string): Entry => ({ key, id, at, marker: true });

/**
 * A fake S3 over the mock: the DR bucket holds `entries` (versioned unless told otherwise), each target
 * bucket a map of current objects. Listing is one page, in key order, newest version first.
 */
function world(
  entries: Entry[],
  targets: Record<string, Record<string, TargetObject>> = {},
  versioning = 'Enabled',
) {
  const newest = new Map<string, Entry>();
  for (const e of [...entries].sort((a, b) => a.at.localeCompare(b.at))) newest.set(e.key, e);
  const sorted = [...entries].sort((a, b) =>
    a.key === b.key ? b.at.localeCompare(a.at) : a.key < b.key ? -1 : 1,
  );
  s3.on(GetBucketVersioningCommand).resolves(versioning ? { Status: versioning as 'Enabled' } : {});
  s3.on(ListObjectVersionsCommand).callsFake((input: { Prefix?: string; KeyMarker?: string }) => {
    const mine = sorted.filter(
      (e) =>
        e.key.startsWith(input.Prefix ?? '') && (input.KeyMarker === undefined || e.key > input.KeyMarker),
    );
    const common = (e: Entry) => ({
      Key: e.key,
      VersionId: e.id,
      IsLatest: newest.get(e.key) === e,
      LastModified: new Date(e.at),
    });
    return {
      IsTruncated: false,
      Versions: mine
        .filter((e) => !e.marker)
        .map((e) => ({
          ...common(e),
          ETag: `"${e.etag}"`,
          Size: e.size,
          StorageClass: e.storageClass ?? 'STANDARD',
        })),
      DeleteMarkers: mine.filter((e) => e.marker).map(common),
    };
  });
  s3.on(ListObjectsV2Command).callsFake((input: { Bucket: string; Prefix?: string; StartAfter?: string }) => {
    if (input.Bucket !== DR) {
      const listed = Object.entries(targets[input.Bucket] ?? {})
        .filter(([k]) => k.startsWith(input.Prefix ?? '') && (!input.StartAfter || k > input.StartAfter))
        .sort(([a], [b]) => (a < b ? -1 : 1));
      return {
        IsTruncated: false,
        Contents: listed.map(([Key, o]) => ({
          Key,
          ETag: `"${o.etag}"`,
          Size: o.size,
          LastModified: new Date(),
        })),
      };
    }
    const current = [...newest.values()]
      .filter(
        (e) =>
          !e.marker &&
          e.key.startsWith(input.Prefix ?? '') &&
          (!input.StartAfter || e.key > input.StartAfter),
      )
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    return {
      IsTruncated: false,
      Contents: current.map((e) => ({
        Key: e.key,
        ETag: `"${e.etag}"`,
        Size: e.size,
        LastModified: new Date(e.at),
        StorageClass: e.storageClass ?? 'STANDARD',
      })),
    };
  });
  s3.on(HeadObjectCommand).callsFake((input: { Bucket: string; Key: string; VersionId?: string }) => {
    if (input.Bucket === DR) {
      const e = input.VersionId
        ? entries.find((x) => x.key === input.Key && x.id === input.VersionId)
        : newest.get(input.Key);
      if (!e || e.marker) throw notFound();
      return {
        ETag: `"${e.etag}"`,
        ContentLength: e.size,
        LastModified: new Date(e.at),
        VersionId: input.VersionId,
        Metadata: e.metadata,
        ContentType: 'image/jpeg',
        CacheControl: 'max-age=60',
        ContentDisposition: 'inline',
        ContentEncoding: 'identity',
        ContentLanguage: 'en',
        StorageClass: e.storageClass,
        Restore: e.restore,
        TagCount: e.tagCount,
      };
    }
    const t = targets[input.Bucket]?.[input.Key];
    if (!t) throw notFound();
    return { ETag: `"${t.etag}"`, ContentLength: t.size, LastModified: new Date(), Metadata: {} };
  });
  s3.on(CopyObjectCommand).callsFake((input: { CopySource: string }) => {
    const id = new URL(`s3://x/${input.CopySource}`).searchParams.get('versionId');
    return { CopyObjectResult: { ETag: `"etag-${id}"` } };
  });
  s3.on(RestoreObjectCommand).resolves({});
}

/**
 * The synchronous restore a job shard runs (lib/restore/job.ts wraps it), with the handler's runtime;
 * the handler itself starts jobs (tests/unit/restore-job.test.ts, tests/integration/restore-jobs.test.ts).
 */
const restoreRuntime = createRuntime();
const invoke = async (payload: unknown, remainingMs = 60_000): Promise<RestoreReport> => {
  const context = aContext(remainingMs);
  return restoreObjects(parseRestorePayload(payload), {
    dr: restoreRuntime.dr,
    storeFor: restoreRuntime.storeFor,
    clock: { now: () => new Date(), remainingMs: () => context.getRemainingTimeInMillis() },
    settings: restoreRuntime.config,
    ...telemetry,
  });
};
const copies = () => s3.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
const writes = () =>
  [CopyObjectCommand, CreateMultipartUploadCommand, UploadPartCopyCommand, RestoreObjectCommand].flatMap(
    (c) => s3.commandCalls(c as typeof CopyObjectCommand),
  );

beforeEach(() => {
  s3.reset();
});

describe('choosing the version as of a time', () => {
  const entries = [
    v('a.txt', 'a1', '2026-11-20T10:00:00Z'),
    v('a.txt', 'a2', '2026-11-22T10:00:00Z'),
    v('a.txt', 'a3', '2026-11-24T10:00:00Z'),
    v('gone.txt', 'g1', '2026-11-20T10:00:00Z'),
    marker('gone.txt', 'gm', '2026-11-21T10:00:00Z'),
    v('late.txt', 'l1', '2026-11-23T10:00:00Z'),
    v('back.txt', 'b1', '2026-11-20T10:00:00Z'),
    marker('back.txt', 'bm', '2026-11-21T10:00:00Z'),
    v('back.txt', 'b2', '2026-11-23T10:00:00Z'),
  ];

  it("restores each key's newest version at or before asOf, by version id", async () => {
    world(entries);
    const report = await invoke({ prefix: '', asOf: '2026-11-22T12:00:00Z', dryRun: false });
    expect(
      copies()
        .map((c) => c.CopySource)
        .sort(),
    ).toEqual([
      'dr-bucket/a.txt?versionId=a2',
      'dr-bucket/back.txt?versionId=b1',
      'dr-bucket/gone.txt?versionId=g1',
    ]);
    expect(copies().every((c) => c.Bucket === SOURCE)).toBe(true);
    expect(report.plan['skip-no-version']).toMatchObject({ objects: 1, sample: ['late.txt'] });
    expect(report.results?.restored.objects).toBe(3);
    expect(report.complete).toBe(true);
  });

  it('brings back a key whose newest entry at asOf is a delete marker, from the version before it', async () => {
    world(entries);
    await invoke({ keys: ['gone.txt'], dryRun: false });
    expect(copies()).toEqual([expect.objectContaining({ CopySource: 'dr-bucket/gone.txt?versionId=g1' })]);
  });

  it('leaves keys deleted at asOf alone with includeDeleted false', async () => {
    world(entries);
    const report = await invoke({
      prefix: '',
      asOf: '2026-11-22T12:00:00Z',
      includeDeleted: false,
      dryRun: false,
    });
    expect(
      copies()
        .map((c) => c.CopySource)
        .sort(),
    ).toEqual(['dr-bucket/a.txt?versionId=a2']);
    expect(report.plan['skip-deleted']).toMatchObject({
      objects: 2,
      bytes: 200,
      sample: ['back.txt', 'gone.txt'],
    });
  });

  it('restores the newest version when no asOf is given, even one written after a delete', async () => {
    world(entries);
    await invoke({ keys: ['back.txt', 'a.txt'], dryRun: false });
    expect(
      copies()
        .map((c) => c.CopySource)
        .sort(),
    ).toEqual(['dr-bucket/a.txt?versionId=a3', 'dr-bucket/back.txt?versionId=b2']);
  });

  it('selects by time, not by the order the listing returned versions and markers in', () => {
    const t = (s: string) => new Date(s);
    const versions = [
      {
        key: 'k',
        versionId: 'old',
        isLatest: false,
        lastModified: t('2026-01-01T00:00:00Z'),
        deleteMarker: false,
      },
      {
        key: 'k',
        versionId: 'new',
        isLatest: true,
        lastModified: t('2026-01-03T00:00:00Z'),
        deleteMarker: false,
      },
      {
        key: 'k',
        versionId: 'm',
        isLatest: false,
        lastModified: t('2026-01-02T00:00:00Z'),
        deleteMarker: true,
      },
    ];
    expect(selectVersion(versions, t('2026-01-02T12:00:00Z'))).toEqual({
      kind: 'version',
      version: versions[0],
      deleted: true,
    });
    expect(selectVersion(versions, undefined)).toMatchObject({
      kind: 'version',
      deleted: false,
      version: { versionId: 'new' },
    });
    expect(selectVersion(versions, t('2025-12-31T00:00:00Z'))).toEqual({ kind: 'none' });
    expect(selectVersion([versions[2]!], undefined)).toEqual({ kind: 'deleted' });
  });

  it('reads ListObjectsV2 and warns when the DR bucket is not versioned (no history to choose from)', async () => {
    world([v('a.txt', 'a1', '2026-11-20T10:00:00Z'), v('b.txt', 'b1', '2026-11-24T10:00:00Z')], {}, '');
    const report = await invoke({ prefix: '', asOf: '2026-11-22T00:00:00Z' });
    expect(s3).not.toHaveReceivedCommand(ListObjectVersionsCommand);
    expect(report.from.versioned).toBe(false);
    expect(report.plan.restore.sample).toEqual(['a.txt']);
    expect(report.plan['skip-no-version'].sample).toEqual(['b.txt']);
    expect(report.warnings.join()).toMatch(/not versioned: only its current objects can be restored/);
  });

  it('goes on past a DR key listed out of S3 key order, and names it under failures and warnings', async () => {
    const entries = [
      v('a.txt', 'a1', '2026-11-20T10:00:00Z'),
      v('b.txt', 'b1', '2026-11-20T10:00:00Z'),
      v('c.txt', 'c1', '2026-11-20T10:00:00Z'),
    ];
    world(entries);
    // An endpoint that pages out of order: `a.txt` comes on the page after `b.txt`.
    const listed = (e: Entry) => ({
      Key: e.key,
      VersionId: e.id,
      IsLatest: true,
      LastModified: new Date(e.at),
      ETag: `"${e.etag}"`,
      Size: e.size,
    });
    s3.on(ListObjectVersionsCommand).callsFake((input: { KeyMarker?: string }) =>
      input.KeyMarker === undefined
        ? {
            IsTruncated: true,
            NextKeyMarker: 'b.txt',
            NextVersionIdMarker: 'b1',
            Versions: [entries[1]!].map(listed),
          }
        : { IsTruncated: false, Versions: [entries[0]!, entries[2]!].map(listed) },
    );

    const report = await invoke({ prefix: '', dryRun: false });

    expect(report.complete).toBe(true);
    expect(report.results?.restored.sample).toEqual(['b.txt', 'c.txt']);
    expect(report.results?.failed.sample).toEqual(['a.txt']);
    expect(report.failures).toEqual([
      {
        key: 'a.txt',
        error: expect.stringMatching(/after "b.txt", out of S3 key order; left out — restore it with "keys"/),
      },
    ]);
    expect(report.warnings.join()).toMatch(/1 listing entry came back out of S3 key order/);
  });

  it("never treats s3-dr's own state under .s3dr/ as something to restore", async () => {
    world([
      v('.s3dr/verify/cursor.json', 'c1', '2026-11-20T10:00:00Z'),
      v('x.txt', 'x1', '2026-11-20T10:00:00Z'),
    ]);
    const report = await invoke({ prefix: '' });
    expect(report.examined).toBe(1);
    expect(report.plan.restore.sample).toEqual(['x.txt']);
  });
});

describe('where a restore may write', () => {
  it.each([
    [
      'a bucket off the allow-list',
      { bucket: 'someone-elses-bucket' },
      /target.bucket someone-elses-bucket is not on this stage's restore allow-list.*S3DR_RESTORE_TARGETS: restore-target/,
    ],
    ['the DR bucket', { bucket: DR }, /target.bucket dr-bucket is the DR bucket itself/],
    [
      'a source bucket in another region',
      { bucket: SOURCE, region: 'us-east-1' },
      /source bucket, which lives in eu-west-1/,
    ],
  ])('refuses %s before sending a single request', async (_what, target, message) => {
    world([v('a.txt', 'a1', '2026-11-20T10:00:00Z')]);
    const attempt = invoke({ prefix: '', target, dryRun: false });
    await expect(attempt).rejects.toThrow(RestoreRefusedError);
    await expect(attempt).rejects.toThrow(message);
    expect(s3.calls()).toHaveLength(0);
  });

  it('refuses a source bucket the stage does not protect', async () => {
    await expect(invoke({ source: 'other-bucket', prefix: '' })).rejects.toThrow(
      /source other-bucket is not a bucket this stage protects \(source-bucket\)/,
    );
    expect(s3.calls()).toHaveLength(0);
  });

  it('writes into an allowed bucket under the target prefix', async () => {
    world([v('photos/a.jpg', 'a1', '2026-11-20T10:00:00Z')]);
    const report = await invoke({
      prefix: 'photos/',
      target: { bucket: 'restore-target', prefix: 'restored/' },
      dryRun: false,
    });
    expect(copies()).toEqual([
      expect.objectContaining({
        Bucket: 'restore-target',
        Key: 'restored/photos/a.jpg',
        CopySource: 'dr-bucket/photos%2Fa.jpg?versionId=a1',
      }),
    ]);
    expect(report.target).toEqual({ bucket: 'restore-target', prefix: 'restored/', region: 'eu-west-1' });
  });

  it('refuses a target bucket that cannot be listed, before any key is planned', async () => {
    world([v('a.txt', 'a1', '2026-11-20T10:00:00Z')]);
    s3.on(ListObjectsV2Command, { Bucket: 'restore-target' }).rejects(
      new S3ServiceException({
        name: 'NoSuchBucket',
        $fault: 'client',
        message: 'The specified bucket does not exist',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    await expect(invoke({ prefix: '', target: { bucket: 'restore-target' }, dryRun: false })).rejects.toThrow(
      /target bucket restore-target cannot be listed in eu-west-1 \(NoSuchBucket: The specified bucket does not exist\)/,
    );
    expect(writes()).toHaveLength(0);
  });

  it('talks only to the DR region when a DR-role stack restores into a bucket there (source region down)', async () => {
    world([
      v('a.txt', 'a1', '2026-11-20T10:00:00Z'),
      v('b.txt', 'b1', '2026-11-20T10:00:00Z', { storageClass: 'GLACIER' }),
    ]);
    const runtime = createRuntime({ ...process.env, S3DR_STACK_ROLE: 'dr' });
    try {
      const report = await restoreObjects(
        parseRestorePayload({ prefix: '', target: { bucket: 'restore-target' }, dryRun: false }),
        {
          dr: runtime.dr,
          storeFor: runtime.storeFor,
          clock: { now: () => new Date(), remainingMs: () => 60_000 },
          settings: runtime.config,
          ...silentTelemetry(),
        },
      );
      expect(report.target.region).toBe('eu-central-1');
      expect(report.results?.restored.objects).toBe(1);
      const regions = await Promise.all(
        s3.calls().map((call) => (call.thisValue as S3Client).config.region()),
      );
      expect(regions.length).toBeGreaterThan(3);
      expect(new Set(regions)).toEqual(new Set(['eu-central-1']));
    } finally {
      runtime.destroy();
    }
  });
});

describe.each([
  ['a prefix (the target is listed alongside DR)', { prefix: '' }, 0],
  ['keys (the target is HEADed per key)', { keys: ['same.txt', 'differs.txt', 'missing.txt'] }, 3],
])('overwrite modes, restoring %s', (_how, scope, targetHeads) => {
  const entries = [
    v('same.txt', 's1', '2026-11-20T10:00:00Z'),
    v('differs.txt', 'd1', '2026-11-20T10:00:00Z'),
    v('missing.txt', 'm1', '2026-11-20T10:00:00Z'),
  ];
  const target = {
    [SOURCE]: { 'same.txt': { etag: 'etag-s1', size: 100 }, 'differs.txt': { etag: 'other', size: 7 } },
  };
  const sortedKeys = () =>
    copies()
      .map((c) => c.Key)
      .sort();

  it('ifDifferent (the default) skips identical objects and replaces the rest', async () => {
    world(entries, target);
    const report = await invoke({ ...scope, dryRun: false });
    expect(sortedKeys()).toEqual(['differs.txt', 'missing.txt']);
    expect(report.plan['skip-identical'].sample).toEqual(['same.txt']);
    expect(s3.commandCalls(HeadObjectCommand).filter((c) => c.args[0].input.Bucket === SOURCE)).toHaveLength(
      targetHeads,
    );
  });

  it('never keeps whatever the target holds', async () => {
    world(entries, target);
    const report = await invoke({ ...scope, overwrite: 'never', dryRun: false });
    expect(sortedKeys()).toEqual(['missing.txt']);
    expect(report.plan['skip-exists']).toMatchObject({ objects: 1, bytes: 100, sample: ['differs.txt'] });
    expect(report.plan['skip-identical'].sample).toEqual(['same.txt']);
  });

  it('always copies everything without looking at the target', async () => {
    world(entries, target);
    await invoke({ ...scope, overwrite: 'always', dryRun: false });
    expect(copies()).toHaveLength(3);
    expect(s3).not.toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: SOURCE });
  });

  it('recognises an identical object by the source ETag recorded on an SSE-KMS DR copy', async () => {
    const kms = v('same.txt', 'k1', '2026-11-20T10:00:00Z', {
      etag: 'kms-etag',
      metadata: { 's3dr-source-etag': 'plain-md5' },
    });
    world([kms], { [SOURCE]: { 'same.txt': { etag: 'plain-md5', size: 100 } } });
    const report = await invoke({ ...scope, dryRun: false });
    expect(copies()).toHaveLength(0);
    expect(report.plan['skip-identical'].objects).toBe(1);
  });
});

// A KMS DR copy records no source ETag; S3's full-object checksums, computed on the plaintext and kept by
// CopyObject, compare it with the target ("Checking object integrity in Amazon S3",
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
describe('restoring from a KMS DR copy that records nothing', () => {
  const scope = { prefix: '', dryRun: false };
  const kms = () =>
    v('same.txt', 'k1', '2026-11-20T10:00:00Z', { etag: 'kms-etag', metadata: { owner: 'alice' } });
  const checksumsBy = (values: Record<string, string>) =>
    s3.on(GetObjectAttributesCommand).callsFake((input: { Bucket: string; VersionId?: string }) => ({
      Checksum: { ChecksumCRC64NVME: values[input.Bucket], ChecksumType: 'FULL_OBJECT' },
    }));

  it('skips a target object with the same full-object checksum', async () => {
    world([kms()], { [SOURCE]: { 'same.txt': { etag: 'plain-md5', size: 100 } } });
    checksumsBy({ [SOURCE]: 'AAAAAAAAAAA=', [DR]: 'AAAAAAAAAAA=' });
    const report = await invoke(scope);
    expect(report.plan['skip-identical'].objects).toBe(1);
    expect(copies()).toHaveLength(0);
    expect(s3).toHaveReceivedCommandWith(GetObjectAttributesCommand, { Bucket: DR, VersionId: 'k1' });
  });

  it('restores over a target object whose checksum differs', async () => {
    world([kms()], { [SOURCE]: { 'same.txt': { etag: 'plain-md5', size: 100 } } });
    checksumsBy({ [SOURCE]: 'AAAAAAAAAAA=', [DR]: 'BBBBBBBBBBB=' });
    const report = await invoke(scope);
    expect(report.plan.restore.objects).toBe(1);
    expect(copies()).toHaveLength(1);
  });
});

describe('what a restored object looks like', () => {
  it('gets back its metadata without s3dr-*, its content headers and its tags, from one server-side copy', async () => {
    world([
      v('a.jpg', 'a1', '2026-11-20T10:00:00Z', {
        metadata: { owner: 'alice', 's3dr-source-etag': 'x', 's3dr-other': 'y' },
      }),
    ]);
    await invoke({ keys: ['a.jpg'], dryRun: false });
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: SOURCE,
      Key: 'a.jpg',
      CopySource: 'dr-bucket/a.jpg?versionId=a1',
      CopySourceIfMatch: '"etag-a1"',
      MetadataDirective: 'REPLACE',
      Metadata: { owner: 'alice' },
      ContentType: 'image/jpeg',
      CacheControl: 'max-age=60',
      ContentDisposition: 'inline',
      ContentEncoding: 'identity',
      ContentLanguage: 'en',
      TaggingDirective: 'COPY',
    });
    expect(copies()[0]?.StorageClass).toBeUndefined();
  });

  it.each([
    ['with tags: reads them and sets them on the upload', 2, 'team=a%26b'],
    ['without tags: no tagging request', undefined, undefined],
  ])(
    'copies a multipart DR version part by part with its own boundaries, %s',
    async (_what, tagCount, tagging) => {
      const sizes = [5 * MiB, 5 * MiB, 1234];
      world([
        v('big.bin', 'big1', '2026-11-20T10:00:00Z', {
          etag: 'abc-3',
          size: sizes.reduce((a, b) => a + b),
          metadata: { 's3dr-source-etag': 'abc-3', kind: 'video' },
          ...(tagCount ? { tagCount } : {}),
        }),
      ]);
      stubMultipartCopy(s3, sizes, 'abc-3');

      const report = await invoke({ keys: ['big.bin'], dryRun: false });

      expect(report.results?.restored).toMatchObject({ objects: 1, bytes: 10 * MiB + 1234 });
      expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
        Bucket: SOURCE,
        Key: 'big.bin',
        Metadata: { kind: 'video' },
        ContentType: 'image/jpeg',
        Tagging: tagging,
      });
      expect(s3).toHaveReceivedCommandTimes(GetObjectTaggingCommand, tagCount ? 1 : 0);
      expect(
        s3
          .commandCalls(UploadPartCopyCommand)
          .map((c) => c.args[0].input.CopySourceRange)
          .sort(),
      ).toEqual([
        `bytes=0-${5 * MiB - 1}`,
        `bytes=${10 * MiB}-${10 * MiB + 1233}`,
        `bytes=${5 * MiB}-${10 * MiB - 1}`,
      ]);
      expect(s3).toHaveReceivedCommandWith(UploadPartCopyCommand, {
        CopySource: 'dr-bucket/big.bin?versionId=big1',
      });
      expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    },
  );
});

// A restore writes into the source bucket (or a target), whose default encryption S3 applies and reports
// on CreateMultipartUpload and UploadPartCopy (x-amz-server-side-encryption); SSE-KMS part ETags are not MD5s
// ("Object", Amazon S3 API Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html).
describe('restoring into buckets by their encryption', () => {
  const sizes = [5 * MiB, 5 * MiB, 1234];
  const plainParts = ['part one', 'part two', 'part three'].map(md5Hex);
  const plainEtag = md5OfMd5s(plainParts);
  const big = () =>
    v('big.bin', 'big1', '2026-11-20T10:00:00Z', {
      etag: plainEtag,
      size: sizes.reduce((a, b) => a + b),
      metadata: { kind: 'video' },
    });

  it('completes a multipart restore into a source bucket encrypting with SSE-KMS by default (no kmsKeyId given)', async () => {
    world([big()]);
    stubEncryptedMultipartCopy(s3, sizes, 'aws:kms', ['k1', 'k2', 'k3'].map(md5Hex), `${md5Hex('kms')}-3`);
    const report = await invoke({ keys: ['big.bin'], dryRun: false });
    expect(report.failures).toEqual([]);
    expect(report.results?.restored.objects).toBe(1);
    expect(s3).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
    // A restore records nothing: the object gets its own metadata back.
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: SOURCE,
      Metadata: { kind: 'video' },
    });
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('keeps the part check in an SSE-S3 (AES256) bucket: a part of another version fails the key', async () => {
    world([big()]);
    const wrong = [plainParts[0] ?? '', md5Hex('another version'), plainParts[2] ?? ''];
    stubEncryptedMultipartCopy(s3, sizes, 'AES256', wrong, md5OfMd5s(wrong));
    const report = await invoke({ keys: ['big.bin'], dryRun: false });
    expect(report.results?.failed.objects).toBe(1);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'up-1' });
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
  });

  it('completes in an SSE-S3 (AES256) bucket when the parts make up the ETag', async () => {
    world([big()]);
    stubEncryptedMultipartCopy(s3, sizes, 'AES256', plainParts, plainEtag);
    const report = await invoke({ keys: ['big.bin'], dryRun: false });
    expect(report.results?.restored.objects).toBe(1);
    expect(s3).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
  });

  it('copies a DR copy that holds no s3dr-* metadata with COPY: nothing to strip, nothing replaced', async () => {
    world([v('a.jpg', 'a1', '2026-11-20T10:00:00Z', { metadata: { owner: 'alice' } })]);
    await invoke({ keys: ['a.jpg'], dryRun: false });
    expect(copies().map((c) => [c.MetadataDirective, c.Metadata])).toEqual([['COPY', undefined]]);
  });
});

describe('archived DR copies', () => {
  it('reports GLACIER copies as thaw-needed in a dry run without starting anything', async () => {
    world([v('cold.bin', 'c1', '2026-11-20T10:00:00Z', { storageClass: 'GLACIER' })]);
    const report = await invoke({ keys: ['cold.bin'] });
    expect(report.plan['thaw-needed']).toMatchObject({ objects: 1, bytes: 100 });
    expect(report.thawing).toEqual([
      {
        key: 'cold.bin',
        storageClass: 'GLACIER',
        tier: 'Standard',
        expectedWait: '3-5 hours',
        state: 'not-started',
      },
    ]);
    expect(writes()).toHaveLength(0);
  });

  it('starts RestoreObject with the tier and days asked for, and reports the copy as thawing', async () => {
    world([v('cold.bin', 'c1', '2026-11-20T10:00:00Z', { storageClass: 'GLACIER' })]);
    const report = await invoke({ keys: ['cold.bin'], thawTier: 'Bulk', thawDays: 2, dryRun: false });
    expect(s3).toHaveReceivedCommandWith(RestoreObjectCommand, {
      Bucket: DR,
      Key: 'cold.bin',
      VersionId: 'c1',
      RestoreRequest: { Days: 2, GlacierJobParameters: { Tier: 'Bulk' } },
    });
    expect(report.results?.thawing.objects).toBe(1);
    expect(report.thawing[0]).toMatchObject({ state: 'started', expectedWait: '5-12 hours' });
    expect(report.summary).toMatch(/thawing 1.*rerun the same payload once thawed/);
    expect(copies()).toHaveLength(0);
  });

  it('does not ask again while a thaw is in progress', async () => {
    world([
      v('cold.bin', 'c1', '2026-11-20T10:00:00Z', {
        storageClass: 'DEEP_ARCHIVE',
        restore: 'ongoing-request="true"',
      }),
    ]);
    const report = await invoke({ keys: ['cold.bin'], dryRun: false });
    expect(s3).not.toHaveReceivedCommand(RestoreObjectCommand);
    expect(report.thawing[0]).toMatchObject({ state: 'in-progress', expectedWait: 'within 12 hours' });
  });

  it('copies a thawed copy like any other (the rerun that finishes the job)', async () => {
    world([
      v('cold.bin', 'c1', '2026-11-20T10:00:00Z', {
        storageClass: 'GLACIER',
        restore: 'ongoing-request="false", expiry-date="Fri, 27 Nov 2026 00:00:00 GMT"',
      }),
    ]);
    const report = await invoke({ keys: ['cold.bin'], dryRun: false });
    expect(copies()).toEqual([expect.objectContaining({ CopySource: 'dr-bucket/cold.bin?versionId=c1' })]);
    expect(report.results?.restored.objects).toBe(1);
  });

  it('thaws DEEP_ARCHIVE with Standard when Expedited was asked for, and says so', async () => {
    world([v('deep.bin', 'd1', '2026-11-20T10:00:00Z', { storageClass: 'DEEP_ARCHIVE' })]);
    const report = await invoke({ keys: ['deep.bin'], thawTier: 'Expedited', dryRun: false });
    expect(s3).toHaveReceivedCommandWith(RestoreObjectCommand, {
      RestoreRequest: { Days: 7, GlacierJobParameters: { Tier: 'Standard' } },
    });
    expect(report.warnings).toContain(
      'DEEP_ARCHIVE has no Expedited retrieval tier: such copies are thawed with Standard',
    );
  });

  it('needs no thaw for a key the target already holds identically', async () => {
    world([v('cold.bin', 'c1', '2026-11-20T10:00:00Z', { storageClass: 'GLACIER' })], {
      [SOURCE]: { 'cold.bin': { etag: 'etag-c1', size: 100 } },
    });
    const report = await invoke({ keys: ['cold.bin'], dryRun: false });
    expect(report.plan['skip-identical'].objects).toBe(1);
    expect(s3).not.toHaveReceivedCommand(RestoreObjectCommand);
  });
});

describe('dry run, limits and the cursor', () => {
  const five = ['k1', 'k2', 'k3', 'k4', 'k5'].map((k, i) =>
    v(k, `${k}v`, '2026-11-20T10:00:00Z', { size: 10 * (i + 1) }),
  );

  it('is the default: reports counts, bytes and sample keys per action and writes nothing', async () => {
    world(five, { [SOURCE]: { k2: { etag: 'etag-k2v', size: 20 } } });
    const report = await invoke({ prefix: '' });
    expect(report.dryRun).toBe(true);
    expect(report.plan.restore).toEqual({
      objects: 4,
      bytes: 10 + 30 + 40 + 50,
      sample: ['k1', 'k3', 'k4', 'k5'],
    });
    expect(report.plan['skip-identical']).toEqual({ objects: 1, bytes: 20, sample: ['k2'] });
    expect(report).not.toHaveProperty('results');
    expect(report.summary).toMatch(
      /^DRY RUN restore of prefix "" \(newest versions\) s3:\/\/dr-bucket → s3:\/\/source-bucket\/: would restore 4 object\(s\) \(130 B\)/,
    );
    expect(writes()).toHaveLength(0);
  });

  it('stops after maxObjects with a cursor, and the cursor continues where it stopped', async () => {
    world(five);
    const first = await invoke({ prefix: '', maxObjects: 2, dryRun: false });
    expect(first).toMatchObject({ complete: false, stoppedBy: 'maxObjects', examined: 2 });
    expect(copies().map((c) => c.Key)).toEqual(['k1', 'k2']);
    s3.resetHistory();
    const second = await invoke({ prefix: '', maxObjects: 2, cursor: first.cursor, dryRun: false });
    const third = await invoke({ prefix: '', maxObjects: 2, cursor: second.cursor, dryRun: false });
    expect(copies().map((c) => c.Key)).toEqual(['k3', 'k4', 'k5']);
    expect(third).toMatchObject({ complete: true, examined: 1 });
    expect(third).not.toHaveProperty('cursor');
  });

  it('continues a keys restore from its cursor too', async () => {
    world(five);
    const first = await invoke({ keys: ['k5', 'k1', 'k3', 'k1'], maxObjects: 2, dryRun: false });
    expect(copies().map((c) => c.Key)).toEqual(['k1', 'k3']);
    await invoke({ keys: ['k5', 'k1', 'k3', 'k1'], maxObjects: 2, cursor: first.cursor, dryRun: false });
    expect(copies().map((c) => c.Key)).toEqual(['k1', 'k3', 'k5']);
  });

  it('stops before the deadline without touching anything and returns a cursor from the start', async () => {
    world(five);
    const report = await invoke({ prefix: '', dryRun: false }, 500);
    expect(report).toMatchObject({ complete: false, stoppedBy: 'deadline', examined: 0 });
    expect(s3).not.toHaveReceivedCommand(ListObjectVersionsCommand);
    expect(writes()).toHaveLength(0);
    const resumed = await invoke({ prefix: '', dryRun: false, cursor: report.cursor });
    expect(resumed.results?.restored.objects).toBe(5);
  });

  it('refuses a cursor from another request', async () => {
    world(five);
    const dry = await invoke({ prefix: '', maxObjects: 1 });
    await expect(invoke({ prefix: '', maxObjects: 1, dryRun: false, cursor: dry.cursor })).rejects.toThrow(
      /cursor: belongs to a different request/,
    );
    expect(writes()).toHaveLength(0);
  });
});

describe('failures', () => {
  it('reports a key that fails and restores the others', async () => {
    world(['k1', 'k2', 'k3'].map((k) => v(k, `${k}v`, '2026-11-20T10:00:00Z')));
    s3.on(CopyObjectCommand, { Key: 'k2' }).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        message: 'Access Denied',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const report = await invoke({ prefix: '', dryRun: false });
    expect(report.results?.restored.objects).toBe(2);
    expect(report.results?.failed).toMatchObject({ objects: 1, sample: ['k2'] });
    expect(report.failures).toEqual([{ key: 'k2', error: 'AccessDenied: Access Denied' }]);
    expect(report.summary).toMatch(/FAILED 1/);
    expect(report.complete).toBe(true);
  });

  it('stops when a whole batch fails, with the cursor before it, and counts RestoreFailures', async () => {
    world(
      Array.from({ length: 70 }, (_, i) =>
        v(`k${String(i).padStart(2, '0')}`, `v${i}`, '2026-11-20T10:00:00Z'),
      ),
    );
    s3.on(CopyObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        message: 'Access Denied',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const metrics: Record<string, number> = {};
    const runtime = createRuntime();
    try {
      const report = await restoreObjects(parseRestorePayload({ prefix: '', dryRun: false }), {
        dr: runtime.dr,
        storeFor: runtime.storeFor,
        clock: { now: () => new Date(), remainingMs: () => 60_000 },
        settings: { ...runtime.config, restoreConcurrency: 2 },
        ...silentTelemetry(),
        metrics: {
          addMetric: (name: string, _unit: unknown, value: number) => {
            metrics[name] = value;
          },
        },
      });
      expect(report).toMatchObject({ complete: false, stoppedBy: 'failures', examined: 16 });
      expect(report.summary).toMatch(
        /STOPPED after 16 key\(s\): every key of a batch failed \(see failures\)/,
      );
      expect(metrics).toEqual({ RestoreObjects: 0, RestoreBytes: 0, RestoreFailures: 16 });
      s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"x"' } });
      s3.resetHistory();
      await invoke({ prefix: '', dryRun: false, cursor: report.cursor });
      expect(copies()).toHaveLength(70);
    } finally {
      runtime.destroy();
    }
  });
});

describe('malformed payloads', () => {
  it.each([
    [{ prefix: '', colour: 'blue' }, /colour: is not a restore option/],
    [{ prefix: '', asOf: 'last tuesday' }, /asOf: must be an ISO 8601 date-time/],
    [{ keys: ['a'], prefix: 'b/' }, /keys: and prefix are both set/],
    [{ prefix: '../' }, /prefix: must not contain "\." or "\.\." path segments/],
  ])('are refused with the field named and nothing requested: %j', async (payload, message) => {
    await expect(invoke(payload)).rejects.toThrow(message);
    expect(s3.calls()).toHaveLength(0);
  });
});
