import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/**
 * Stubs the S3 side of a server-side multipart copy of an object made of parts of `sizes` bytes: its
 * part list (GetObjectAttributes), one tag `team=a&b`, no upload to resume, upload `up-1` whose parts
 * copy as `"p<n>"`, completing with the multipart ETag `etag`.
 */
export function stubMultipartCopy(s3: AwsClientStub<S3Client>, sizes: readonly number[], etag: string): void {
  s3.on(GetObjectAttributesCommand).resolves({
    ObjectParts: {
      TotalPartsCount: sizes.length,
      IsTruncated: false,
      Parts: sizes.map((Size, i) => ({ PartNumber: i + 1, Size })),
    },
  });
  s3.on(GetObjectTaggingCommand).resolves({ TagSet: [{ Key: 'team', Value: 'a&b' }] });
  s3.on(ListMultipartUploadsCommand).resolves({ Uploads: [] });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
  s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber: number }) => ({
    CopyPartResult: { ETag: `"p${input.PartNumber}"` },
  }));
  s3.on(CompleteMultipartUploadCommand).resolves({ ETag: `"${etag}"` });
}
