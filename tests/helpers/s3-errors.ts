import { InvalidObjectState, S3ServiceException } from '@aws-sdk/client-s3';

/**
 * CopyObject/GetObject of an SSE-C object without its key, as real S3 answers (400 InvalidRequest; seen
 * in apache/opendal#1858 and boto/boto3#1482).
 */
export const sseCustomerKeyRequired = () =>
  new S3ServiceException({
    name: 'InvalidRequest',
    $fault: 'client',
    message:
      'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
    $metadata: { httpStatusCode: 400 },
  });

/** HeadObject's 400 has no body, so the SDK can name no error code (`Unknown`). */
export const bareBadRequest = () =>
  new S3ServiceException({
    name: 'Unknown',
    $fault: 'client',
    message: 'UnknownError',
    $metadata: { httpStatusCode: 400 },
  });

/**
 * CopyObject (or GetObject) of an archived object without a restored copy: 403 InvalidObjectState (S3 API
 * reference, "Error responses"; S3 User Guide, "Copying objects").
 */
export const invalidObjectState = () =>
  new InvalidObjectState({
    message: 'The operation is not valid for the object’s storage class',
    $metadata: { httpStatusCode: 403 },
  });
