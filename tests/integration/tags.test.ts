/**
 * Tag-only changes on the local runtime, whose copyTags is on as in a deployment: the emulator changes tags as S3 does (tags
 * only; ETag and Last-Modified stay — S3 API reference, PutObjectTagging / DeleteObjectTagging; data type
 * Object: "The ETag reflects changes only to the contents of an object, not its metadata") and notifies
 * `s3:ObjectTagging:Put` / `:Delete` (User Guide, "Event notification types and destinations"); the
 * real ingest and replicate handlers bring DR's tags along without copying a byte, and deep verify finds
 * and repairs a drift no event announced.
 */
import {
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { scaled } from '../helpers/time-scale.ts';

let rt: LocalRuntime;
let source: string;
let dr: string;

beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true });
  source = rt.config.sourceBuckets[0]!;
  dr = rt.config.drBucket;
}, 60_000);

afterAll(async () => {
  await rt?.stop();
});

const tagsOf = async (bucket: string, key: string) =>
  Object.fromEntries(
    ((await rt.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet ?? []).map((t) => [
      t.Key,
      t.Value,
    ]),
  );
const tagSet = (tags: Record<string, string>) => ({
  TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});
/** What a DR copy's bytes are: body, ETag and Last-Modified (the listing's, to the millisecond). */
const bytesOf = async (bucket: string, key: string) => {
  const listed = (await rt.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }))).Contents?.find(
    (o) => o.Key === key,
  );
  const body = await (
    await rt.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  ).Body?.transformToString();
  return { body, etag: listed?.ETag, lastModified: listed?.LastModified?.getTime() };
};

describe('tag-only changes reach DR (copyTags on)', () => {
  const key = 'tagged/report q3+ü.csv';

  it('follows tag changes and removals on the source with tagging requests only; the DR bytes never change', async () => {
    expect(rt.config.copyTags).toBe(true);
    // Prepare: an object uploaded with tags is copied with them.
    await rt.s3.send(
      new PutObjectCommand({
        Bucket: source,
        Key: key,
        Body: 'a,b\n1,2\n',
        Tagging: 'team=blue&stage=raw',
      }),
    );
    await rt.drain(scaled(60_000));
    expect(await tagsOf(dr, key)).toEqual({ team: 'blue', stage: 'raw' });
    const copied = await bytesOf(dr, key);
    expect(copied.body).toBe('a,b\n1,2\n');

    // Act: a change of the tag set (fewer tags), one of the same size, then a removal.
    const before = await rt.emulator.requestCounts();
    await rt.s3.send(
      new PutObjectTaggingCommand({ Bucket: source, Key: key, Tagging: tagSet({ stage: 'final' }) }),
    );
    await rt.drain(scaled(60_000));
    expect(await tagsOf(dr, key)).toEqual({ stage: 'final' });

    await rt.s3.send(
      new PutObjectTaggingCommand({ Bucket: source, Key: key, Tagging: tagSet({ stage: 'archived' }) }),
    );
    await rt.drain(scaled(60_000));
    expect(await tagsOf(dr, key)).toEqual({ stage: 'archived' });

    await rt.s3.send(new DeleteObjectTaggingCommand({ Bucket: source, Key: key }));
    await rt.drain(scaled(60_000));
    expect(await tagsOf(dr, key)).toEqual({});

    // Assess: DR's bytes, ETag and Last-Modified are those of the first copy; nothing was copied again.
    expect(await bytesOf(dr, key)).toEqual(copied);
    const after = await rt.emulator.requestCounts();
    const delta = (op: string) => (after[op] ?? 0) - (before[op] ?? 0);
    expect({
      copy: delta('CopyObject'),
      put: delta('PutObjectTagging'),
      delete: delta('DeleteObjectTagging'),
    }).toEqual({
      copy: 0,
      // Two on the source (the test), two on DR (replicate).
      put: 4,
      // One on the source, one on DR.
      delete: 2,
    });
    expect(rt.status.snapshot()).toMatchObject({ objectsTagged: 3, dlqDepth: 0 });
  }, 120_000);

  it('deep verify finds tags changed on DR behind its back and its repair restores the source tags', async () => {
    const drifted = 'tagged/drifted.txt';
    await rt.s3.send(new PutObjectCommand({ Bucket: source, Key: drifted, Body: 'x', Tagging: 'keep=me' }));
    await rt.drain(scaled(60_000));
    // A change no event announces: someone edits the DR copy's tags.
    await rt.s3.send(
      new PutObjectTaggingCommand({ Bucket: dr, Key: drifted, Tagging: tagSet({ keep: 'tampered' }) }),
    );

    const report = (await rt.verifyNow({ deep: true, repair: true, graceSeconds: 0 })) as VerifyReport;
    expect(report.buckets[0]?.deep?.tags).toMatchObject({ drifted: 1, samples: [drifted] });
    await rt.drain(scaled(60_000));

    expect(await tagsOf(dr, drifted)).toEqual({ keep: 'me' });
    const again = (await rt.verifyNow({ deep: true, repair: false, graceSeconds: 0 })) as VerifyReport;
    expect(again.buckets[0]?.deep?.tags).toMatchObject({ drifted: 0 });
  }, 120_000);
});
