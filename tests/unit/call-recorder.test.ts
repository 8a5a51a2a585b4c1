/**
 * The request recorder of the local runtime (local/call-recorder.ts), which feeds the IAM evaluation of
 * the integration suites (tests/iam/recorded-calls.test.ts): it names the function whose invocation made
 * each request, records no request the runtime or a test makes for itself, and marks a function's client
 * sending outside any invocation. Real SDK clients, answered by a stub HTTP handler (no network).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type CallRecord, recordFunctionCalls } from '../../local/call-recorder.ts';
import { invokeHandler, lambdaContext } from '../../local/lambda-context.ts';

/** A client whose every request answers `status` with an empty body. */
const clientAnswering = (status: number) =>
  new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({
        response: { statusCode: status, headers: {}, body: Readable.from([]) },
      }),
    },
  });

let dir: string;
let file: string;
const recorded = async () =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CallRecord);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3dr-recorder-'));
  file = join(dir, 'calls.jsonl');
  process.env.S3DR_RECORD_CALLS = file;
  recordFunctionCalls();
});
afterAll(async () => {
  delete process.env.S3DR_RECORD_CALLS;
  await rm(dir, { recursive: true, force: true });
});

describe('the local request recorder', () => {
  it('records a request made inside an invocation, with its function, fields and error; not the body', async () => {
    const fn = clientAnswering(404);
    await invokeHandler(
      async () => {
        await expect(
          fn.send(new HeadObjectCommand({ Bucket: 'source-bucket', Key: 'a b.txt' })),
        ).rejects.toThrow();
      },
      {},
      lambdaContext('replicate', 60_000),
    );
    const [head] = await recorded();
    expect(head).toEqual({
      fn: 'replicate',
      service: 's3',
      operation: 'HeadObject',
      input: { Bucket: 'source-bucket', Key: 'a b.txt' },
      error: 'NotFound',
      stage: expect.objectContaining({ sourceBuckets: ['source-bucket'], drBucket: 'dr-bucket' }),
    });
  });

  it('records nothing a client that never served an invocation sends (the runtime standing in for AWS, a test)', async () => {
    const before = (await recorded()).length;
    await clientAnswering(200).send(new PutObjectCommand({ Bucket: 'source-bucket', Key: 'k', Body: 'x' }));
    expect((await recorded()).length).toBe(before);
  });

  it('marks a function client sending outside any invocation with no function, so the evaluation fails it', async () => {
    const fn = clientAnswering(200);
    await invokeHandler(
      () => fn.send(new PutObjectCommand({ Bucket: 'dr-bucket', Key: 'in', Body: 'secret body' })),
      {},
      lambdaContext('verify', 60_000),
    );
    await fn.send(new PutObjectCommand({ Bucket: 'dr-bucket', Key: 'out', Body: 'secret body' }));
    const lines = await recorded();
    expect(lines.filter((l) => l.operation === 'PutObject').map((l) => [l.fn, l.input.Key])).toEqual([
      ['verify', 'in'],
      [null, 'out'],
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret body');
  });
});
