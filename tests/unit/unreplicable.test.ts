import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { ObjectArchivedError, SseCustomerKeyRequiredError } from '../../lib/core/errors.ts';
import { thawRequest, unreplicableReason } from '../../lib/core/unreplicable.ts';
import { bareBadRequest, invalidObjectState, sseCustomerKeyRequired } from '../helpers/s3-errors.ts';

const s3 = mockClient(S3Client);
const store = () => new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), 'source-bucket');

/** HEAD headers of an object, as HeadObject returns them. */
const head = (extra: Record<string, unknown>) => ({
  ETag: '"e1"',
  ContentLength: 10,
  LastModified: new Date('2026-01-01T00:00:00Z'),
  Metadata: {},
  ...extra,
});

describe('unreplicableReason', () => {
  // S3 API reference, CopyObject: a source must be restored first when its storage class is GLACIER or
  // DEEP_ARCHIVE, or INTELLIGENT_TIERING in the Archive Access or Deep Archive Access tier. S3 User Guide,
  // "Working with archived objects": S3 Glacier Instant Retrieval is not archived. "Restoring an archived
  // object": a restored copy (x-amz-restore ongoing-request="false") can be copied.
  it.each([
    ['STANDARD', { StorageClass: undefined }, undefined],
    ['GLACIER_IR (readable in real time)', { StorageClass: 'GLACIER_IR' }, undefined],
    ['GLACIER', { StorageClass: 'GLACIER' }, 'archived-glacier'],
    [
      'GLACIER being restored',
      { StorageClass: 'GLACIER', Restore: 'ongoing-request="true"' },
      'archived-glacier',
    ],
    [
      'GLACIER with a restored copy',
      {
        StorageClass: 'GLACIER',
        Restore: 'ongoing-request="false", expiry-date="Fri, 28 Nov 2026 00:00:00 GMT"',
      },
      undefined,
    ],
    ['DEEP_ARCHIVE', { StorageClass: 'DEEP_ARCHIVE' }, 'archived-deep-archive'],
    ['INTELLIGENT_TIERING in a frequent/infrequent tier', { StorageClass: 'INTELLIGENT_TIERING' }, undefined],
    [
      'INTELLIGENT_TIERING in Archive Access',
      { StorageClass: 'INTELLIGENT_TIERING', ArchiveStatus: 'ARCHIVE_ACCESS' },
      'archived-intelligent-tiering-archive',
    ],
    [
      'INTELLIGENT_TIERING in Deep Archive Access',
      { StorageClass: 'INTELLIGENT_TIERING', ArchiveStatus: 'DEEP_ARCHIVE_ACCESS' },
      'archived-intelligent-tiering-deep-archive',
    ],
    ['SSE-C (whatever the class)', { StorageClass: 'STANDARD', SSECustomerAlgorithm: 'AES256' }, 'sse-c'],
  ])('classifies %s from its HEAD', async (_what, headers, expected) => {
    s3.reset();
    s3.on(HeadObjectCommand).resolves(head(headers));
    const h = await store().head('k');
    expect(h).toBeDefined();
    expect(unreplicableReason(h ?? { storageClass: undefined })).toBe(expected);
  });
});

describe('the S3 adapter on objects S3 will not read', () => {
  beforeEach(() => {
    s3.reset();
  });

  it('explains a bare 400 on HEAD of an SSE-C object with a one-byte GET, which says why', async () => {
    // S3 API reference, HeadObject: for an SSE-C object the SSE-C headers are needed "for the server to be
    // able to retrieve the object's metadata"; without them HEAD is a 400 Bad Request
    // (jschneier/django-storages#1451, boto/boto3#936), and GET says "stored using a form of Server Side
    // Encryption" (boto/boto3#1482).
    s3.on(HeadObjectCommand).rejects(bareBadRequest());
    s3.on(GetObjectCommand).rejects(sseCustomerKeyRequired());
    await expect(store().head('secret.bin')).rejects.toThrow(SseCustomerKeyRequiredError);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Key: 'secret.bin', Range: 'bytes=0-0' });
  });

  it('keeps the HEAD error when the GET does not name SSE-C', async () => {
    s3.on(HeadObjectCommand).rejects(bareBadRequest());
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'InvalidArgument',
        $fault: 'client',
        message: 'Invalid version id specified',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(store().head('k')).rejects.toThrow(/UnknownError/);
  });

  it('turns CopyObject’s InvalidObjectState (403) and SSE-C InvalidRequest (400) into their own errors', async () => {
    // S3 error responses: InvalidObjectState, 403, "The operation is not valid for the current state of the
    // object" (an archived source without a restored copy).
    s3.on(CopyObjectCommand, { Key: 'cold' }).rejects(invalidObjectState());
    s3.on(CopyObjectCommand, { Key: 'secret' }).rejects(sseCustomerKeyRequired());
    const dr = new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), 'dr-bucket');
    await expect(dr.copyFrom({ bucket: 'source-bucket', key: 'cold' }, 'cold', {})).rejects.toThrow(
      ObjectArchivedError,
    );
    await expect(dr.copyFrom({ bucket: 'source-bucket', key: 'secret' }, 'secret', {})).rejects.toThrow(
      SseCustomerKeyRequiredError,
    );
  });

  it('restores an Intelligent-Tiering archived object without Days, a GLACIER one with them', async () => {
    // S3 API reference, S3InitiateRestoreObjectOperation: objects in Intelligent-Tiering archive tiers "are
    // not subject to restore expiry, so specifying ExpirationInDays results in restore request failure".
    s3.on(RestoreObjectCommand).resolves({});
    const it = thawRequest('archived-intelligent-tiering-deep-archive', { days: 1, tier: 'Expedited' });
    // Expedited exists for GLACIER and the Archive Access tier only.
    expect(it).toEqual({ days: undefined, tier: 'Standard' });
    await store().startThaw('a', undefined, it.days, it.tier);
    await store().startThaw('b', 'v1', 1, 'Bulk');
    expect(s3).toHaveReceivedNthCommandWith(1, RestoreObjectCommand, {
      Key: 'a',
      RestoreRequest: { GlacierJobParameters: { Tier: 'Standard' } },
    });
    expect(s3).toHaveReceivedNthCommandWith(2, RestoreObjectCommand, {
      Key: 'b',
      VersionId: 'v1',
      RestoreRequest: { Days: 1, GlacierJobParameters: { Tier: 'Bulk' } },
    });
  });
});
