/**
 * Object Lock is the default for a DR bucket in its own account (docs/security.md#moving-dr-to-its-own-account),
 * and S3 refuses a PutObject into a bucket with a default retention unless the request carries
 * `Content-MD5` or an `x-amz-checksum-*` header: 400 InvalidRequest, "Content-MD5 OR x-amz-checksum- HTTP
 * header is required for Put Object requests with Object Lock parameters" (S3 User Guide, "Object Lock
 * considerations", Uploading objects to an Object Lock enabled bucket). s3-dr's own PutObjects into DR —
 * the verifier's cursor, reports and ledger, the run leases — are made by the clients of
 * lib/aws/clients.ts; copies (CopyObject, UploadPartCopy) carry no body and need neither.
 *
 * The requests here go through the real client stack (middleware included: aws-sdk-client-mock would
 * replace it) and stop at the wire, where the headers S3 would see are read.
 */
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClients } from '../../lib/aws/clients.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { loadConfig } from '../../lib/core/config.ts';

const clients = createClients(loadConfig());
afterAll(() => clients.destroy());

/** The headers of every request the client would send, answered with an empty 200 instead. */
function recordWire(client: S3Client): Record<string, string>[] {
  const sent: Record<string, string>[] = [];
  client.middlewareStack.add(
    () => async (args) => {
      const request = args.request as { headers: Record<string, string> };
      sent.push({ ...request.headers });
      return {
        response: { statusCode: 200, headers: { etag: '"e1"' }, body: Readable.from([]) },
      } as never;
    },
    // Innermost, in place of the HTTP handler: after the checksum (build step) and signing
    // (finalizeRequest), before the response is parsed — what goes on the wire.
    { step: 'deserialize', priority: 'low', name: 'recordWire' },
  );
  return sent;
}

const hasIntegrityHeader = (headers: Record<string, string>) =>
  Object.keys(headers).some((h) =>
    /^(content-md5|x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256))$/i.test(h),
  );

describe('PutObject into an Object Lock DR bucket', () => {
  it('carries an x-amz-checksum or Content-MD5 header on verifier state and run-lease writes', async () => {
    const client = clients.s3('eu-central-1');
    const sent = recordWire(client);
    const dr = new S3ObjectStore(client, 'dr-bucket', { expectedOwner: '222233334444' });

    await dr.putText('.s3dr/verify/cursor.json', '{"cursor":"a"}');
    await dr.putTextIf('.s3dr/leases/restore/r.json', '{"v":1}', { ifNoneMatch: '*' });
    await dr.putTextIf('.s3dr/leases/restore/r.json', '{"v":2}', { ifMatch: 'e1' });

    expect(sent).toHaveLength(3);
    expect(sent.map(hasIntegrityHeader)).toEqual([true, true, true]);
    // The owner condition travels with them (S3 User Guide, "Verifying bucket ownership with bucket
    // owner condition").
    expect(sent.map((h) => h['x-amz-expected-bucket-owner'])).toEqual(Array(3).fill('222233334444'));
  });
});
