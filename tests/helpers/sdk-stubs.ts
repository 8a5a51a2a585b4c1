import { createHash } from 'node:crypto';
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

/** A hex MD5, as S3 gives the ETag of a part (or object) stored without SSE-KMS. */
export const md5Hex = (text: string) => createHash('md5').update(text).digest('hex');

/** The ETag S3 gives a multipart object without SSE-KMS: MD5 of the parts' binary MD5s, `-N`. */
export function md5OfMd5s(partEtags: readonly string[]): string {
  const digest = createHash('md5');
  for (const etag of partEtags) digest.update(Buffer.from(etag, 'hex'));
  return `${digest.digest('hex')}-${partEtags.length}`;
}

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

/**
 * Stubs a multipart copy the way S3 answers it for a target bucket encrypting with `encryption`:
 * CreateMultipartUpload and every UploadPartCopy report it (`x-amz-server-side-encryption`, see
 * "CreateMultipartUpload" and "UploadPartCopy" in the Amazon S3 API Reference), part `n` copies with ETag
 * `partEtags[n-1]`, and CompleteMultipartUpload answers `completeEtag`. Uploads are numbered `up-1`, `up-2`, …
 */
export function stubEncryptedMultipartCopy(
  s3: AwsClientStub<S3Client>,
  sizes: readonly number[],
  encryption: 'AES256' | 'aws:kms' | 'aws:kms:dsse',
  partEtags: readonly string[],
  completeEtag: string,
): void {
  stubMultipartCopy(s3, sizes, completeEtag);
  let uploads = 0;
  s3.on(CreateMultipartUploadCommand).callsFake(() => {
    uploads += 1;
    return { UploadId: `up-${uploads}`, ServerSideEncryption: encryption };
  });
  s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber: number }) => ({
    CopyPartResult: { ETag: `"${partEtags[input.PartNumber - 1]}"` },
    ServerSideEncryption: encryption,
  }));
  s3.on(CompleteMultipartUploadCommand).resolves({
    ETag: `"${completeEtag}"`,
    ServerSideEncryption: encryption,
  });
}
