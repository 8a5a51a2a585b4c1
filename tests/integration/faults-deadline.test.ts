/**
 * A replicate invocation cut off by its deadline in the middle of a multipart copy, and the redelivery
 * that finishes it. UploadPartCopy is slowed down by the fault proxy, and the safety margin is set so
 * that each invocation may start parts only during its first ~2.5 s (S3DR_SAFETY_MARGIN_MS = Lambda
 * timeout − 2.5 s): the copy of a 17-part object takes several invocations, each resuming the open
 * upload (ListMultipartUploads + ListParts) where the last one stopped.
 */
import { channel } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OutcomeEvent } from '../../lib/core/telemetry.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { loadLocalSettings } from '../../local/settings.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { queueMessages } from '../helpers/fault-workload.ts';
import { MiB, putMultipart, snapshots } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';

const PARTS = [...Array.from({ length: 16 }, () => 5 * MiB), 1024];
const KEY = 'deadline/seventeen parts.bin';
let rt: LocalRuntime;
let proxy: FaultProxy | undefined;
const outcomes: (OutcomeEvent & { at: number })[] = [];
const onOutcome = (message: unknown) => outcomes.push({ ...(message as OutcomeEvent), at: Date.now() });

beforeAll(async () => {
  const settings = await loadLocalSettings();
  channel('s3dr:outcome').subscribe(onOutcome);
  rt = await startLocalRuntime({
    port: 0,
    quiet: true,
    // Longer than one cut-off invocation, so a redelivery never overlaps the attempt before it.
    visibilityTimeoutSeconds: 4,
    maxReceiveCount: 20,
    env: {
      S3DR_SAFETY_MARGIN_MS: String(settings.replicate.timeoutSeconds * 1000 - 2500),
      S3DR_PART_CONCURRENCY: '2',
    },
    handlerEndpoint: async (target) => {
      proxy = await startFaultProxy({
        target,
        rate: 0,
        seed: 1,
        // The upload begins over a second after the source was written: replicate only resumes uploads
        // begun a second or more after the source's Last-Modified (whole seconds), and aborts others.
        delayMs: (r) =>
          r.operation === 'UploadPartCopy' ? 400 : r.operation === 'CreateMultipartUpload' ? 1100 : undefined,
      });
      return proxy.endpoint;
    },
  });
}, 60_000);

afterAll(async () => {
  channel('s3dr:outcome').unsubscribe(onOutcome);
  await rt?.stop();
  await proxy?.close();
});

describe('a multipart copy cut off by the replicate deadline', () => {
  it('resumes on each redelivery, copies every part exactly once, and ends with the source ETag', async () => {
    const etag = await putMultipart(rt.s3, rt.config.sourceBuckets[0]!, KEY, PARTS);
    await rt.drain(scaled(180_000));

    const failures = outcomes.flatMap((o) => (o.type === 'replicate-failed' ? [o] : []));
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures.map((f) => f.reason))).toEqual(new Set(['DeadlineError']));
    const requests = proxy!.requests();
    const uploadIdOf = (url: string) => new URLSearchParams(url.split('?')[1]).get('uploadId');
    const completions = requests.filter((r) => r.operation === 'CompleteMultipartUpload');
    expect(completions).toHaveLength(1);
    const completed = uploadIdOf(completions[0]!.url);
    const partCopies = requests.filter((r) => r.operation === 'UploadPartCopy');
    // Every part copied exactly once (no attempt redid another's parts), into the upload that completed…
    expect(partCopies).toHaveLength(PARTS.length);
    expect(new Set(partCopies.map((r) => uploadIdOf(r.url)))).toEqual(new Set([completed]));
    // …which was begun before an attempt ran out of time: a later attempt found it (ListParts) and resumed.
    const firstPart = Math.min(...partCopies.map((r) => r.at));
    expect(firstPart).toBeLessThan(Math.max(...failures.map((f) => f.at)));
    expect(requests.filter((r) => r.operation === 'ListParts').length).toBeGreaterThan(0);

    const [src, copy] = await Promise.all([
      snapshots(rt.s3, rt.config.sourceBuckets[0]!, [KEY]),
      snapshots(rt.s3, rt.config.drBucket, [KEY]),
    ]);
    expect(copy[0]?.etag).toBe(etag);
    expect(copy).toEqual(src);
    expect(await queueMessages(rt, rt.dlqUrl)).toEqual([]);
  }, 200_000);
});
