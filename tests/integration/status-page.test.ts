import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { PAGE_PATH, STATUS_PATH } from '../../local/status-page.ts';
import { invokeRestore, type RestoreHandler, runRestoreJob } from '../helpers/jobs.ts';
import { putObject } from '../helpers/objects.ts';
import { scaled } from '../helpers/time-scale.ts';
import { findTool, tools } from '../helpers/tools.ts';

// The status page of `npm start`, as a person sees it: headless Chromium found on PATH (installed by
// .ci/run) driven with playwright-core, against a runtime that just replicated a known amount of work.
let rt: LocalRuntime;
let browser: Browser;

beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true, env: { S3DR_DELETE_POLICY: 'mirror' } });
  browser = await chromium.launch({
    executablePath: await findTool(tools.chromium),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await rt?.stop();
});

describe('the local status page', () => {
  it('shows the same counts as the run: events in, objects copied and deleted, bytes, queue and DLQ depth', async () => {
    const source = rt.config.sourceBuckets[0]!;
    const keys = Array.from({ length: 25 }, (_, i) => `page/${i}.txt`);
    await mapConcurrent(keys, 8, (key) => putObject(rt.s3, source, key, Buffer.alloc(100, 1)));
    await rt.drain(scaled(60_000));
    await mapConcurrent(keys.slice(0, 5), 5, (key) =>
      rt.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key })),
    );
    await rt.drain(scaled(60_000));

    const page = await browser.newPage();
    await page.goto(`${rt.endpoint}${PAGE_PATH}`);
    const value = async (field: string) =>
      Number(
        await page
          .locator(`[data-field="${field}"] .v`)
          .first()
          .textContent({ timeout: scaled(10_000) }),
      );
    await page.waitForSelector('[data-field="objectsCopied"]');

    expect(await value('eventsIngested')).toBe(30);
    expect(await value('objectsCopied')).toBe(25);
    expect(await value('objectsDeleted')).toBe(5);
    expect(await value('bytesCopied')).toBe(2500);
    expect(await value('queueDepth')).toBe(0);
    expect(await value('dlqDepth')).toBe(0);
    const snapshot = rt.status.snapshot();
    expect(await value('objectsCopied')).toBe(snapshot.objectsCopied);
    expect(await value('lagP99Ms')).toBe(Math.round(snapshot.lagP99Ms ?? Number.NaN));
    await page.screenshot({ path: join(tmpdir(), 's3dr-status-page.png') });
    await page.close();
  }, 60_000);

  it('lists the running and recent restore jobs, newest first, with their state and progress line', async () => {
    const restore = (await import('../../functions/restore.ts')).handler as unknown as RestoreHandler;
    const first = await runRestoreJob(rt, restore, { prefix: 'page/' });
    await rt.pauseJobWorkers();
    const running = await invokeRestore(restore, { prefix: 'page/', dryRun: false });

    const snapshot = (await (await fetch(`${rt.endpoint}${STATUS_PATH}`)).json()) as {
      jobs: { job: string; state: string; summary: string }[];
    };
    expect(snapshot.jobs.map((j) => [j.job, j.state])).toEqual([
      [running.job, 'planning'],
      [first.job, 'complete'],
    ]);
    const page = await browser.newPage();
    await page.goto(`${rt.endpoint}${PAGE_PATH}`);
    await expect(
      page.locator(`[data-job="${first.job}"]`).textContent({ timeout: scaled(10_000) }),
    ).resolves.toContain('complete');
    await page.close();
    rt.resumeJobWorkers();
    await rt.jobsIdle(scaled(120_000));
  }, 60_000);
});
