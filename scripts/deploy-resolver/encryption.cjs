'use strict';
/** Encryption of the queues and the DR bucket: SSE-KMS where a key is configured, else the managed kind. */

/** Encryption settings that depend on whether a KMS key is configured (null = property left out). */
const encryption = {
  sqsManagedSse: (s) => (s.queueKmsKeyArn ? null : true),
  drSseAlgorithm: (s) => (s.drKmsKeyArn ? 'aws:kms' : 'AES256'),
  drBucketKey: (s) => (s.drKmsKeyArn ? true : null),
};

/** The DR bucket's default-encryption key: the created DR key, kmsKeyArn, or none (SSE-S3). */
function drBucketKmsKeyId(s) {
  return s.drKmsKeyArn ?? null;
}

module.exports = { encryption, drBucketKmsKeyId };
