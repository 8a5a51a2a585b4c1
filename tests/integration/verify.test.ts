import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import type { Runtime } from '../../functions/runtime.ts';
import { compareKeys } from '../../lib/core/key-order.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import type { JobStatus } from '../../lib/jobs/model.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { lambdaContext } from '../../local/lambda-context.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { awkwardKeys, bodyFor, listKeys, putObject } from '../helpers/objects.ts';
import { runProcess } from '../helpers/run-process.ts';
import { root } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';
import { type VerifyHandler, verifyJobReport, verifyRun } from '../helpers/verify.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;
let verifyHandler: VerifyHandler;
let runtime: Runtime;

/**
 * Keys where S3's order (UTF-8 bytes) differs from `localeCompare` and from UTF-16 `<`: case, punctuation,
 * emoji against U+E000–U+FFFF. The `mixed/` prefix alone holds more than one page (1,000 keys), which is
 * where fauxqs 2.4.1 skipped and repeated keys before patches/fauxqs+2.4.1.patch.
 */
function orderSensitiveKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < 1100; i++) {
    const n = String(i).padStart(4, '0');
    keys.push(['mixed/Apple', 'mixed/apple', 'mixed/_apple', 'mixed/-apple', 'mixed/APPLE.'][i % 5] + n);
  }
  for (let i = 0; i < 20; i++) keys.push(`bmp/\ue000-${i}`, `bmp/😀-${i}`, `bmp/\uffee-${i}`, `bmp/𝄞-${i}`);
  return keys;
}

/**
 * A verify job through the real verify handler, run by the local runtime's job worker, to its report; or,
 * given an invocation of its own (a deadline), one run of the verifier as a job's run makes it.
 */
const verify = (payload: unknown, context?: Context): Promise<VerifyReport> =>
  context ? verifyRun(runtime, payload, context) : verifyJobReport(rt, verifyHandler, payload);
const sorted = (keys: readonly string[]) => [...keys].sort(compareKeys);
const total = (r: VerifyReport) => Object.values(r.counts).reduce((a, b) => a + b, 0);

beforeAll(async () => {
  // Under `mirror` (the local stage's default, as on AWS), repairing an orphan deletes it from DR.
  rt = await startLocalRuntime({ port: 0, quiet: true, env: { S3DR_DELETE_POLICY: 'mirror' } });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
  verifyHandler = (await import('../../functions/verify.ts')).handler as unknown as VerifyHandler;
  runtime = (await import('../../functions/runtime.ts')).createRuntime();
}, 60_000);

afterAll(async () => {
  runtime?.destroy();
  await rt?.stop();
});

describe('the patched emulator', () => {
  it('lists keys in S3 order (UTF-8 bytes), each once, across pages and with a delimiter', async () => {
    const keys = orderSensitiveKeys();
    await mapConcurrent(keys, 32, (key) =>
      rt.s3.send(new PutObjectCommand({ Bucket: dr, Key: `order-probe/${key}`, Body: 'x' })),
    );
    const listed = await listKeys(rt.s3, dr, 'order-probe/');
    expect(listed).toEqual(sorted(keys.map((k) => `order-probe/${k}`)));

    // A page that ends with a common prefix continues after it (fauxqs 2.4.1 repeated such prefixes).
    const entries: string[] = [];
    let token: string | undefined;
    do {
      const r = await rt.s3.send(
        new ListObjectsV2Command({
          Bucket: dr,
          Prefix: 'order-probe/',
          Delimiter: '/',
          MaxKeys: 1,
          ContinuationToken: token,
        }),
      );
      entries.push(
        ...(r.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
        ...(r.Contents ?? []).map((o) => o.Key ?? ''),
      );
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    expect(entries).toEqual(['order-probe/bmp/', 'order-probe/mixed/']);

    await mapConcurrent(
      Array.from({ length: Math.ceil(listed.length / 1000) }, (_, i) =>
        listed.slice(i * 1000, (i + 1) * 1000),
      ),
      2,
      (batch) =>
        rt.s3.send(
          new DeleteObjectsCommand({ Bucket: dr, Delete: { Objects: batch.map((Key) => ({ Key })) } }),
        ),
    );
  }, 60_000);
});

describe('verify on the local runtime (delete policy mirror)', () => {
  const keys = [...orderSensitiveKeys(), ...awkwardKeys(100)];
  const legacy = Array.from({ length: 30 }, (_, i) => `legacy/2019/report-${i}.csv`);
  const pick = (indices: number[]) => indices.map((i) => keys[i]!);
  const deletedFromDr = pick([5, 216, 427, 1103, 1275]);
  const alteredSameSize = pick([100, 300, 1110, 1250]);
  const alteredOtherSize = pick([700, 1190]);
  const extraInDr = ['extra/stray.bin', 'mixed/zz-stray', 'bmp/😀-stray', 'Top-level stray.txt'];

  it('finds exactly the keys deleted, altered and added in DR behind the pipeline’s back, and a never-replicated prefix', async () => {
    // Prepare: the pipeline replicates everything; then DR is tampered with directly (DR is not a source,
    // so nothing notices), and the `legacy/` prefix is removed from DR altogether — the state of a prefix
    // written before the bucket was protected.
    await mapConcurrent([...keys, ...legacy], 32, (key) =>
      putObject(rt.s3, source, key, bodyFor(key, 1, 64)),
    );
    await rt.drain(scaled(180_000));
    await mapConcurrent([...deletedFromDr, ...legacy], 8, (key) =>
      rt.s3.send(new DeleteObjectCommand({ Bucket: dr, Key: key })),
    );
    await mapConcurrent(alteredSameSize, 8, (key) => putObject(rt.s3, dr, key, bodyFor(key, 2, 64)));
    await mapConcurrent(alteredOtherSize, 8, (key) => putObject(rt.s3, dr, key, bodyFor(key, 2, 65)));
    await mapConcurrent(extraInDr, 8, (key) => putObject(rt.s3, dr, key, Buffer.from('not in the source')));

    // Act: graceSeconds 0, since everything here was written seconds ago.
    const report = await verify({ graceSeconds: 0 });

    // Assess
    expect(report.counts).toEqual({
      ok: keys.length - deletedFromDr.length - alteredSameSize.length - alteredOtherSize.length,
      missing: deletedFromDr.length + legacy.length,
      mismatched: alteredSameSize.length + alteredOtherSize.length,
      orphaned: extraInDr.length,
      pending: 0,
      unreplicable: 0,
    });
    expect(sorted(report.samples.missing)).toEqual(sorted([...deletedFromDr, ...legacy]));
    expect(sorted(report.samples.mismatched)).toEqual(sorted([...alteredSameSize, ...alteredOtherSize]));
    expect(sorted(report.samples.orphaned)).toEqual(sorted(extraInDr));
    expect(report.pass.complete).toBe(true);
    // Only the same-size alterations needed a HEAD of the DR copy, and each key DR lacks one of the source
    // (missing, or unreplicable?): every other key was decided by the listings.
    expect(report.requests.head).toBe(alteredSameSize.length + deletedFromDr.length + legacy.length);
    expect(report.repairsQueued).toBe(deletedFromDr.length + legacy.length + 6 + extraInDr.length);
    // The job's report (its pass totals) is kept with the job; each run's own under .s3dr/reports/verify/.
    expect(await listKeys(rt.s3, dr, '.s3dr/jobs/')).toContain(report.reportKey);
    expect(await listKeys(rt.s3, dr, '.s3dr/reports/verify/')).not.toEqual([]);
  }, 240_000);

  it('repairs them through the replication queue, so the next verify reports every key ok', async () => {
    await rt.drain(scaled(120_000));

    const report = await verify({ graceSeconds: 0 });

    expect(report.counts).toEqual({
      ok: keys.length + legacy.length,
      missing: 0,
      mismatched: 0,
      orphaned: 0,
      pending: 0,
      unreplicable: 0,
    });
    expect(report.repairsQueued).toBe(0);
    expect(await listKeys(rt.s3, dr, 'extra/')).toEqual([]);
    expect(rt.status.snapshot().dlqDepth).toBe(0);
    expect(rt.status.snapshot().verify).toMatchObject({
      lastCounts: report.counts,
      lastPassComplete: true,
    });
  }, 180_000);

  it('resumes a time-boxed pass from its cursor and covers every key exactly once', async () => {
    await putObject(rt.s3, dr, 'mixed/apple0001', Buffer.from('tampered'));
    let checks = 400;
    const shortLived = (): Context => ({
      ...lambdaContext('verify', 900_000),
      getRemainingTimeInMillis: () => (checks-- > 0 ? 900_000 : 0),
    });

    const runs: VerifyReport[] = [];
    do {
      checks = 400;
      runs.push(await verify({ graceSeconds: 0, repair: false }, shortLived()));
    } while (!runs.at(-1)?.pass.complete && runs.length < 40);

    expect(runs.length).toBeGreaterThan(1);
    expect(runs[0]?.pass).toMatchObject({
      complete: false,
      cursor: `s3://${dr}/.s3dr/verify/${source}.json`,
    });
    expect(runs.at(-1)?.pass.complete).toBe(true);
    expect(runs.reduce((n, r) => n + total(r), 0)).toBe(keys.length + legacy.length);
    expect(runs.flatMap((r) => r.samples.mismatched)).toEqual(['mixed/apple0001']);
  }, 180_000);

  it('deep mode compares the content of every key in scope and says how', async () => {
    const report = await verify({ prefix: 'legacy/', deep: true, repair: false });
    expect(report.counts).toMatchObject({ ok: legacy.length, mismatched: 0 });
    const methods = report.buckets[0]?.deep?.methods ?? {};
    expect(Object.values(methods).reduce((a, b) => a + b, 0)).toBe(legacy.length);
    expect(Object.keys(methods).every((m) => /^(checksum:[A-Z0-9]+|hash:sha256)$/.test(m))).toBe(true);
  }, 60_000);

  it('deep mode finds a DR copy forged behind a matching recorded ETag, and its repair rewrites it', async () => {
    // Other bytes of the same size, with metadata that vouches for the source's ETag: a shallow pass
    // trusts the recorded ETag (one HEAD), only a content comparison tells.
    const key = legacy[3]!;
    const { ETag } = await rt.s3.send(new HeadObjectCommand({ Bucket: source, Key: key }));
    await rt.s3.send(
      new PutObjectCommand({
        Bucket: dr,
        Key: key,
        Body: bodyFor(key, 3, 64),
        Metadata: { 's3dr-source-etag': (ETag ?? '').replaceAll('"', '') },
      }),
    );
    const shallow = await verify({ prefix: 'legacy/', graceSeconds: 0, repair: false });
    expect(shallow.counts).toMatchObject({ ok: legacy.length, mismatched: 0 });
    expect(shallow.requests.head).toBe(1);

    const deep = await verify({ prefix: 'legacy/', graceSeconds: 0, deep: true });
    expect(deep.counts).toMatchObject({ ok: legacy.length - 1, mismatched: 1 });
    expect(deep.samples.mismatched).toEqual([key]);
    expect(deep.repairsQueued).toBe(1);

    await rt.drain(scaled(60_000));
    const after = await verify({ prefix: 'legacy/', graceSeconds: 0, deep: true, repair: false });
    expect(after.counts).toMatchObject({ ok: legacy.length, mismatched: 0 });
    const copy = await rt.s3.send(new GetObjectCommand({ Bucket: dr, Key: key }));
    expect(Buffer.from(await copy.Body!.transformToByteArray())).toEqual(bodyFor(key, 1, 64));
  }, 60_000);

  it('runs from the command line against the running runtime: npm run verify -- --data … --wait', async () => {
    const run = (args: string[]) => {
      const env: NodeJS.ProcessEnv = { ...process.env, S3DR_PORT: String(rt.port) };
      delete env.NODE_OPTIONS;
      return runProcess(process.execPath, ['--no-warnings', 'scripts/verify.ts', ...args], {
        cwd: root,
        env,
        timeoutMs: scaled(60_000),
        check: false,
      });
    };

    const ok = await run(['--data', '{"prefix":"legacy/","repair":false}', '--wait']);
    expect(ok.code).toBe(0);
    const status = JSON.parse(ok.stdout) as JobStatus;
    expect(status).toMatchObject({ kind: 'verify', state: 'complete' });
    expect(status.report).toMatchObject({
      prefix: 'legacy/',
      repair: false,
      counts: { ok: legacy.length, missing: 0 },
    });
    expect(ok.stderr).toMatch(/verify job \S+ complete: shards 1\/1, 30 key\(s\) checked \(ok 30, missing 0/);

    // Drift makes --wait exit 3: a key of the scope gone from DR.
    await rt.s3.send(new DeleteObjectCommand({ Bucket: dr, Key: legacy[0] }));
    const drift = await run(['--data', '{"prefix":"legacy/","repair":false,"graceSeconds":0}', '--wait']);
    expect(drift.code).toBe(3);
    expect((JSON.parse(drift.stdout) as JobStatus).report).toMatchObject({ counts: { missing: 1 } });

    const bad = await run(['--data', '{"prefix":"legacy/","dryRun":true}']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/dryRun: is not a verify option/);
  }, 60_000);
});
