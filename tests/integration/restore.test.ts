import { DeleteObjectsCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RestoreRefusedError } from '../../lib/core/errors.ts';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import type { JobStatus } from '../../lib/jobs/model.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import { InvalidRestorePayloadError } from '../../lib/restore/payload.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { type RestoreHandler, restoreReport, runRestoreJob } from '../helpers/jobs.ts';
import {
  awkwardKeys,
  bodyFor,
  listKeys,
  MiB,
  type ObjectSnapshot,
  putMultipart,
  putObject,
  snapshots,
} from '../helpers/objects.ts';
import { type ProcessError, runProcess } from '../helpers/run-process.ts';
import { scaled } from '../helpers/time-scale.ts';

const TARGET = 'restore-target';
const NOT_ALLOWED = 'not-on-the-list';

let rt: LocalRuntime;
let source: string;
let restore: RestoreHandler;
/** A restore job started and followed to its end: its final report (the synchronous run's, summed). */
const invoke = (payload: unknown): Promise<RestoreReport> => restoreReport(rt, restore, payload);

beforeAll(async () => {
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    env: {
      S3DR_RESTORE_TARGETS: TARGET,
      S3DR_DELETE_POLICY: 'retain',
      S3DR_MULTIPART_THRESHOLD: String(5 * MiB),
      // Shards of 7 keys: the 31 keys of the album run as a job of five shards.
      S3DR_JOB_SHARD_KEYS: '7',
    },
    extraBuckets: [TARGET, NOT_ALLOWED],
  });
  source = rt.config.sourceBuckets[0]!;
  // The handler reads its configuration at import, from the environment the runtime just set up.
  restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

describe('restore on the local runtime', () => {
  const keys = awkwardKeys(30).map((k) => `album/${k}`);
  const multipartKey = 'album/video/three parts+ü.bin';
  const all = [...keys, multipartKey].sort();
  let before: (ObjectSnapshot | undefined)[];

  it('brings back a prefix deleted at the source: dry run shows it, real run restores identical bytes and metadata', async () => {
    // Prepare: objects with metadata and content headers, one multipart, replicated; then the prefix is deleted.
    await mapConcurrent(keys, 8, (key, i) =>
      putObject(rt.s3, source, key, bodyFor(key, 1, [0, 1, 1024, 70_000][i % 4]!), {
        metadata: { origin: 'camera', index: String(i) },
        contentType: i % 2 ? 'image/jpeg' : 'text/plain; charset=utf-8',
        cacheControl: 'max-age=600',
      }),
    );
    await putMultipart(rt.s3, source, multipartKey, [5 * MiB, 5 * MiB, 321], { kind: 'video' });
    await rt.drain(scaled(120_000));
    before = await snapshots(rt.s3, source, all);
    expect(before.every((s) => s !== undefined)).toBe(true);
    await rt.s3.send(
      new DeleteObjectsCommand({ Bucket: source, Delete: { Objects: all.map((Key) => ({ Key })) } }),
    );
    await rt.drain(scaled(60_000));
    expect(await listKeys(rt.s3, source, 'album/')).toEqual([]);

    // Act 1: the dry run (the default).
    const plan = await invoke({ prefix: 'album/' });

    // Assess: the plan names every deleted key and its bytes, and nothing was written.
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.restore.objects).toBe(all.length);
    expect(plan.plan.restore.bytes).toBe(before.reduce((a, s) => a + (s?.size ?? 0), 0));
    const inS3Order = [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(plan.plan.restore.sample).toEqual(inS3Order.slice(0, 10));
    expect(plan.complete).toBe(true);
    expect(await listKeys(rt.s3, source, 'album/')).toEqual([]);

    // Act 2: the real run.
    const skippedBefore = rt.status.snapshot().objectsSkipped;
    const copiedBefore = rt.status.snapshot().objectsCopied;
    const done = await invoke({ prefix: 'album/', dryRun: false });

    // Assess: identical bytes, ETags, metadata and headers; no s3dr-* metadata on the restored objects.
    expect(done.results?.restored.objects).toBe(all.length);
    expect(done.results?.failed.objects).toBe(0);
    expect(await snapshots(rt.s3, source, all)).toEqual(before);
    const head = await rt.s3.send(new HeadObjectCommand({ Bucket: source, Key: multipartKey }));
    expect(head.ETag).toMatch(/-3"$/);
    expect(head.Metadata).toEqual({ kind: 'video' });
    expect(rt.status.snapshot().restore).toMatchObject({ objects: all.length, failures: 0 });

    // ...and replication recognises what the restore wrote: every write is a skip, not a copy.
    await rt.drain(scaled(60_000));
    expect(rt.status.snapshot().objectsSkipped - skippedBefore).toBe(all.length);
    expect(rt.status.snapshot().objectsCopied).toBe(copiedBefore);
  }, 180_000);

  it('does nothing the second time: everything is already identical', async () => {
    const again = await invoke({ prefix: 'album/', dryRun: false });
    expect(again.results?.restored.objects).toBe(0);
    expect(again.plan['skip-identical'].objects).toBe(all.length);
  });

  it('restores into a second allowed bucket under a prefix, leaving the source alone', async () => {
    const report = await invoke({
      prefix: 'album/',
      target: { bucket: TARGET, prefix: 'copy/' },
      dryRun: false,
    });
    expect(report.results?.restored.objects).toBe(all.length);
    expect(report.target).toMatchObject({ bucket: TARGET, prefix: 'copy/' });
    expect(
      await snapshots(
        rt.s3,
        TARGET,
        all.map((k) => `copy/${k}`),
      ),
    ).toEqual(before);
  }, 60_000);

  it('covers every key of a prefix exactly once across the shards of a job, with no cursor to pass', async () => {
    const status = await runRestoreJob(rt, restore, { prefix: 'album/' });
    const report = status.report as RestoreReport;
    expect(status.shards).toEqual({
      planned: Math.ceil(all.length / 7),
      done: Math.ceil(all.length / 7),
      failed: 0,
      cancelled: 0,
    });
    expect(report.examined).toBe(all.length);
    expect(report.plan['skip-identical'].objects).toBe(all.length);
    expect(report.complete).toBe(true);
  }, 60_000);

  it('refuses a target outside the allow-list with a clear error, and writes nothing', async () => {
    const attempt = invoke({ prefix: 'album/', target: { bucket: NOT_ALLOWED }, dryRun: false });
    await expect(attempt).rejects.toThrow(RestoreRefusedError);
    await expect(attempt).rejects.toThrow(
      `target.bucket ${NOT_ALLOWED} is not on this stage's restore allow-list. A restore writes only into its source bucket (${source}) or a bucket in the restoreTargets parameter (S3DR_RESTORE_TARGETS: ${TARGET})`,
    );
    expect(await listKeys(rt.s3, NOT_ALLOWED)).toEqual([]);
  });

  it.each([
    [
      { prefix: 'album/', dryRun: false, force: true },
      'force: is not a restore option (allowed: source, keys, prefix',
    ],
    [{ prefix: 'album/', asOf: '2026-02-30T00:00:00Z' }, 'asOf: is not a real date and time'],
    [{ prefix: 'album/', asOf: 'yesterday' }, 'asOf: must be an ISO 8601 date-time with a time zone'],
    [{ prefix: 'album/', keys: ['album/a'] }, 'keys: and prefix are both set; give one of them'],
  ])('refuses the malformed payload %j naming the field', async (payload, message) => {
    const attempt = invoke(payload);
    await expect(attempt).rejects.toThrow(InvalidRestorePayloadError);
    await expect(attempt).rejects.toThrow(message);
  });
});

describe('npm run restore (scripts/restore.ts)', () => {
  const run = (data: string, ...flags: string[]) =>
    runProcess(process.execPath, ['--no-warnings', 'scripts/restore.ts', '--data', data, ...flags], {
      env: { ...process.env, S3DR_PORT: String(rt.port), NODE_OPTIONS: '' },
      timeoutMs: scaled(60_000),
    });

  it('follows the job with --wait and prints its final status, with the report, on stdout', async () => {
    const { stdout, stderr } = await run(JSON.stringify({ keys: ['album/plain/object-0.txt'] }), '--wait');
    const status = JSON.parse(stdout) as JobStatus;
    expect(status).toMatchObject({ state: 'complete', dryRun: true });
    const report = status.report as RestoreReport;
    expect(report).toMatchObject({ dryRun: true, source, complete: true });
    expect(report.plan['skip-identical'].sample).toEqual(['album/plain/object-0.txt']);
    expect(stderr).toContain('DRY RUN restore of 1 key(s)');
  }, 60_000);

  it('answers a start at once without --wait: the job and its state', async () => {
    const { stdout } = await run(JSON.stringify({ keys: ['album/plain/object-1.txt'] }));
    expect(JSON.parse(stdout)).toMatchObject({
      job: expect.stringMatching(/^local\.restore\./),
      dryRun: true,
    });
    await rt.jobsIdle(scaled(120_000));
  }, 60_000);

  it('exits non-zero with the validation message on a bad payload', async () => {
    const failure = await run('{"prefix":"album/","asOf":"tomorrow"}').then(
      () => undefined,
      (error: ProcessError) => error.result,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('asOf: must be an ISO 8601 date-time with a time zone');
    expect(failure?.stdout).toBe('');
  }, 60_000);
});
