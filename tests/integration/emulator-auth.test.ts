/**
 * The local endpoint refuses what S3 refuses. A request to a private bucket must carry a SigV4 signature,
 * in the Authorization header or as a presigned URL ("Authenticating Requests (AWS Signature Version
 * 4)", Amazon S3 API Reference; an anonymous request to a bucket that grants no public access gets 403
 * AccessDenied). A web page must not be able to write either: it can send a "simple" cross-origin
 * request (say a text/plain POST) without any preflight, so such requests are refused outright.
 */
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Emulator } from '../../local/emulator.ts';
import { StatusBoard } from '../../local/status.ts';
import { PAGE_PATH, registerStatusPage, STATUS_PATH } from '../../local/status-page.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.ts';
import { putObject } from '../helpers/objects.ts';

let local: TestEmulator;
let emulator: Emulator;
let s3: S3Client;
let board: StatusBoard;
const bucket = 'private-bucket';

beforeAll(async () => {
  board = new StatusBoard();
  local = await startTestEmulator({ beforeListen: (app) => registerStatusPage(app, () => board.snapshot()) });
  ({ emulator, s3 } = local);
  const created = await fetch(`${emulator.endpoint}/${bucket}`, { method: 'PUT' });
  expect(created.status).toBe(403); // even creating a bucket needs a signature
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await putObject(s3, bucket, 'kept.txt', Buffer.from('still here'));
});

afterAll(async () => {
  board?.close();
  await local?.stop();
});

const exists = async (key: string) =>
  s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    (error: Error) => {
      if (error.name === 'NotFound') return false;
      throw error;
    },
  );

describe('the local endpoint refuses unsigned and cross-origin requests', () => {
  it('answers an unsigned PUT with 403 AccessDenied and writes nothing', async () => {
    const r = await fetch(`${emulator.endpoint}/${bucket}/unsigned.txt`, { method: 'PUT', body: 'x' });
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('<Code>AccessDenied</Code>');
    expect(await exists('unsigned.txt')).toBe(false);
  });

  it('refuses an unsigned read and an unsigned listing', async () => {
    expect((await fetch(`${emulator.endpoint}/${bucket}/kept.txt`)).status).toBe(403);
    expect((await fetch(`${emulator.endpoint}/${bucket}?list-type=2`)).status).toBe(403);
  });

  it('refuses the cross-origin text/plain POST ?delete a web page can send without a preflight', async () => {
    const attack = (headers: Record<string, string>) =>
      fetch(`${emulator.endpoint}/${bucket}?delete`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', origin: 'http://evil.example', ...headers },
        body: '<Delete><Object><Key>kept.txt</Key></Object></Delete>',
      });
    expect((await attack({})).status).toBe(403);
    // Nor does a header that merely looks like a signature help a page: its Origin gives it away.
    const faked = await attack({
      authorization: 'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request',
    });
    expect(faked.status).toBe(403);
    expect(await exists('kept.txt')).toBe(true);
  });

  it('grants no CORS: a preflight is refused without Access-Control-Allow-Origin', async () => {
    const r = await fetch(`${emulator.endpoint}/${bucket}/kept.txt`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'DELETE' },
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses an unsigned SQS request', async () => {
    const r = await fetch(emulator.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' },
      body: '{}',
    });
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('MissingAuthenticationToken');
  });

  it('serves signed SDK requests and presigned URLs, as S3 does', async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kept.txt' }));
    expect(await got.Body?.transformToString()).toBe('still here');
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'kept.txt' }), {
      expiresIn: 60,
    });
    const r = await fetch(url);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('still here');
  });

  it('keeps the status page readable in a browser without signing', async () => {
    expect((await fetch(`${emulator.endpoint}${PAGE_PATH}`)).status).toBe(200);
    const status = await fetch(`${emulator.endpoint}${STATUS_PATH}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toHaveProperty('eventsIngested');
  });
});
