/**
 * The floor of `npm run bench` (bench/replicate-floor.ts) sends exactly the CopyObject that replicate's
 * fast path sends through the S3 adapter, so floor and pipeline pay for the same request. Its condition is
 * `x-amz-copy-source-if-match`: S3 "copies the object if its entity tag (ETag) matches the specified
 * tag", else 412 Precondition Failed (Amazon S3 API Reference, CopyObject,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html) — an ETag is a quoted string there.
 */
import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { type CopyRequest, fastPathCopy } from '../../bench/replicate-floor.ts';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1' });

beforeEach(() => {
  s3.reset();
  s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e1"' } });
});

const key = 'tenant 7/a+b/ü.dat';
const inputs = () =>
  s3.commandCalls(CopyObjectCommand).map((c) => JSON.parse(JSON.stringify(c.args[0].input)));

describe('the floor of npm run bench', () => {
  it.each([
    { copyTags: true, storageClass: 'STANDARD', kmsKeyId: undefined, expectedOwner: undefined },
    { copyTags: false, storageClass: 'STANDARD_IA', kmsKeyId: 'alias/dr', expectedOwner: '111122223333' },
  ])(
    'sends the CopyObject replicate sends for a fresh object, CopySourceIfMatch the quoted ETag (%o)',
    async (stage) => {
      const request: CopyRequest = {
        client,
        dr: 'dr-bucket',
        drKey: key,
        source: { bucket: 'src-bucket', key, etag: 'e1' },
        ...stage,
      };
      const adapter = new S3ObjectStore(client, 'dr-bucket', { expectedOwner: stage.expectedOwner });

      await adapter.copyFrom({ bucket: 'src-bucket', key, ifMatch: 'e1' }, key, {
        storageClass: stage.storageClass,
        tags: stage.copyTags ? 'copy' : undefined,
        kmsKeyId: stage.kmsKeyId,
      });
      await fastPathCopy(request);

      const [fromAdapter, fromFloor] = inputs();
      expect(fromFloor).toEqual(fromAdapter);
      expect(fromFloor).toMatchObject({
        CopySourceIfMatch: '"e1"',
        CopySource: 'src-bucket/tenant%207%2Fa%2Bb%2F%C3%BC.dat',
      });
    },
  );
});
