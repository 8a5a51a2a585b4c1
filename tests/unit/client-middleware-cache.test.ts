/**
 * Every object replicated costs one CopyObject and a share of a SendMessageBatch, and the SDK's own
 * per-request work is most of the CPU the pipeline spends per object (docs/performance.md#replication-throughput).
 * One part of it is resolving the client's middleware stack on every send; with `cacheMiddleware: true`
 * the client "will only resolve the middleware stack once per Command class" (AWS SDK for JavaScript v3,
 * SmithyConfiguration.cacheMiddleware, @smithy/smithy-client `client.d.ts`: "Enable this only if needing
 * the additional time saved (0-1ms per request) and not needing middleware modifications between
 * requests"; the SDK team points S3 users at it for throughput: aws/aws-sdk-js-v3 issue #6423, "Throughput
 * improvements to the AWS SDK S3 client were released in v3.649.0"). These tests send through the real
 * client stack and stop at the wire, where the request S3 or SQS would see is read: the cached handler
 * still sends each request's own input.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CopyObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { createClients } from '../../lib/aws/clients.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { SqsTaskQueue } from '../../lib/aws/sqs-task-queue.ts';
import { loadConfig } from '../../lib/core/config.ts';

const clients = createClients(loadConfig());
afterAll(() => clients.destroy());

/** Answers every request at the wire with `answer` (after signing), recording its headers and path. */
function atTheWire(
  client: S3Client | SQSClient,
  answer: (body: string) => { headers: Record<string, string>; body: string },
): { path: string; headers: Record<string, string>; body: string }[] {
  const sent: { path: string; headers: Record<string, string>; body: string }[] = [];
  // Typed as the S3 client's stack: the SQS client's takes the same middleware.
  (client as S3Client).middlewareStack.add(
    () => async (args) => {
      const request = args.request as { path: string; headers: Record<string, string>; body?: unknown };
      const body =
        request.body instanceof Uint8Array
          ? new TextDecoder().decode(request.body)
          : String(request.body ?? '');
      sent.push({ path: request.path, headers: { ...request.headers }, body });
      const response = answer(body);
      return {
        response: { statusCode: 200, headers: response.headers, body: Readable.from([response.body]) },
      } as never;
    },
    { step: 'deserialize', priority: 'low', name: 'atTheWire' },
  );
  return sent;
}

describe('SDK clients resolve their middleware once per command (cacheMiddleware)', () => {
  it('resolves CopyObject once for three conditional copies, each sent with its own source and ETag', async () => {
    const client = clients.s3('eu-west-1');
    const sent = atTheWire(client, () => ({
      headers: { 'content-type': 'application/xml' },
      body: '<CopyObjectResult><ETag>"e"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>',
    }));
    const resolve = jest.spyOn(CopyObjectCommand.prototype, 'resolveMiddleware');
    const dr = new S3ObjectStore(client, 'dr-bucket');

    for (const n of [1, 2, 3])
      await dr.copyFrom({ bucket: 'src-bucket', key: `k${n}`, ifMatch: `etag-${n}` }, `k${n}`, {});

    expect(resolve).toHaveBeenCalledTimes(1);
    expect(
      sent.map((r) => [r.headers['x-amz-copy-source'], r.headers['x-amz-copy-source-if-match']]),
    ).toEqual([
      ['src-bucket/k1', '"etag-1"'],
      ['src-bucket/k2', '"etag-2"'],
      ['src-bucket/k3', '"etag-3"'],
    ]);
    // Each request is signed for itself (SigV4 covers the copy source and its condition).
    expect(new Set(sent.map((r) => r.headers.authorization)).size).toBe(3);
    resolve.mockRestore();
  });

  it('sends concurrent requests of one command class each to its own bucket and key', async () => {
    // A cached handler shares one execution context among all requests of its command class (the SDK
    // resolves it once, context included), and the endpoint middleware writes the request's endpoint —
    // the bucket — into it. The serializer reads it back before anything else can run, so interleaved
    // requests to the source and the DR bucket (one client serves both in one region) must not mix.
    const client = clients.s3('ap-south-1');
    const sent = atTheWire(client, () => ({ headers: { etag: '"e"', 'content-length': '0' }, body: '' }));
    const store = {
      src: new S3ObjectStore(client, 'src-bucket'),
      dr: new S3ObjectStore(client, 'dr-bucket'),
    };

    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? store.src : store.dr).head(`k${i}`)));

    expect(sent).toHaveLength(60);
    const wrong = sent.filter((r) => {
      const i = Number(/k(\d+)$/.exec(r.path)?.[1]);
      // Path-style or virtual-hosted, whichever the configuration chose: the bucket is in one of them.
      return !`${r.headers.host}${r.path}`.includes(i % 2 ? 'src-bucket' : 'dr-bucket');
    });
    expect(wrong).toEqual([]);
  });

  it('resolves SendMessageBatch once for two batches of tasks, each sent with its own entries', async () => {
    const client = clients.sqs();
    // SQS answers with each entry's MD5OfMessageBody, which the SDK checks: answer as SQS does.
    const sent = atTheWire(client, (body) => {
      const entries = (JSON.parse(body) as { Entries: { Id: string; MessageBody: string }[] }).Entries;
      return {
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: JSON.stringify({
          Successful: entries.map((e) => ({
            Id: e.Id,
            MessageId: `m${e.Id}`,
            MD5OfMessageBody: createHash('md5').update(e.MessageBody).digest('hex'),
          })),
        }),
      };
    });
    const resolve = jest.spyOn(SendMessageBatchCommand.prototype, 'resolveMiddleware');
    const queue = new SqsTaskQueue(client, 'https://sqs.eu-west-1.amazonaws.com/123456789012/q');
    const task = (key: string) => ({
      v: 1 as const,
      bucket: 'src-bucket',
      key,
      eventName: 'ObjectCreated:Put',
      eventTime: '2026-01-01T00:00:00.000Z',
    });

    await queue.send([task('a'), task('b')]);
    await queue.send([task('c')]);

    expect(resolve).toHaveBeenCalledTimes(1);
    const keys = sent.map((r) =>
      (JSON.parse(r.body) as { Entries: { MessageBody: string }[] }).Entries.map(
        (e) => (JSON.parse(e.MessageBody) as { key: string }).key,
      ),
    );
    expect(keys).toEqual([['a', 'b'], ['c']]);
    resolve.mockRestore();
  });
});
