'use strict';
/** The functions' IAM role statements, one least-privilege list per function, from the settings. */
const { allow, bucketArn, dlqArn, jobQueueArn, objectsArn, queueArn } = require('./cfn.cjs');

/** Where verify and restore hold their run leases (lib/verify/run-lease.ts). */
const LEASE_PREFIX = '.s3dr/leases/';
/** Where restore and verify jobs keep their state (lib/jobs/model.ts). */
const JOB_PREFIX = '.s3dr/jobs/';

/** KMS statements exist only for keys that are configured: no key, no statement (and no wildcard). */
function kmsStatements(s, { dr = [], source = [], queue = [] }) {
  return [
    s.drKmsKeyArn && dr.length > 0 ? allow('UseDrBucketKey', dr, [s.drKmsKeyArn]) : undefined,
    s.sourceKmsKeyArns.length > 0 && source.length > 0
      ? allow('UseSourceBucketKeys', source, s.sourceKmsKeyArns)
      : undefined,
    s.queueKmsKeyArn && queue.length > 0 ? allow('UseQueueKey', queue, [s.queueKmsKeyArn]) : undefined,
  ].filter(Boolean);
}

/**
 * Least privilege per function: each statement names its resources from the parameters, and grants
 * only what a request of the function needs — tests/package/iam-evaluation.test.ts records every request
 * and evaluates it against the packaged roles, and fails on a grant no request uses. Only restore reads
 * object versions (a request naming a versionId is authorised with the *Version* actions: S3 API
 * reference, GetObjectAttributes "Permissions"); replicate and verify read current objects.
 */
const roleStatements = {
  ingest: (s) => {
    return [
      allow('EnqueueReplicationTasks', ['sqs:SendMessage'], [queueArn]),
      // The async on-failure destination is written with the function's own role.
      allow('SendAsyncFailuresToDeadLetterQueue', ['sqs:SendMessage'], [dlqArn]),
      ...kmsStatements(s, { queue: ['kms:GenerateDataKey', 'kms:Decrypt'] }),
    ];
  },
  replicate: (s) => {
    return [
      // What Lambda's event source mapping needs ("Using Lambda with Amazon SQS", execution role
      // permissions); replicate itself never changes a message's visibility.
      allow(
        'ConsumeReplicationQueue',
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        [queueArn],
      ),
      // ListBucket turns a HEAD of a missing key into 404 (not 403): "deleted at the source".
      allow('ListSourceBuckets', ['s3:ListBucket'], s.sourceBuckets.map(bucketArn)),
      allow(
        'ReadSourceObjects',
        ['s3:GetObject', 's3:GetObjectTagging', 's3:GetObjectAttributes'],
        s.sourceBuckets.map((b) => objectsArn(b)),
      ),
      // Only with thawArchivedSources: replicate restores archived source objects before copying them.
      ...(s.thawArchivedSources
        ? [
            allow(
              'ThawArchivedSourceObjects',
              ['s3:RestoreObject'],
              s.sourceBuckets.map((b) => objectsArn(b)),
            ),
          ]
        : []),
      allow('ListDrBucket', ['s3:ListBucket', 's3:ListBucketMultipartUploads'], [bucketArn(s.drBucket)]),
      allow(
        'WriteDrObjects',
        [
          's3:GetObject',
          's3:PutObject',
          's3:PutObjectTagging',
          's3:GetObjectTagging',
          // Tag-only changes: written on the DR version replicate compared (VersionId), and an empty
          // set is removed with DeleteObjectTagging (free, unlike an empty PutObjectTagging).
          's3:PutObjectVersionTagging',
          's3:GetObjectVersionTagging',
          's3:DeleteObjectTagging',
          's3:DeleteObjectVersionTagging',
          's3:DeleteObject',
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
          // GetObjectAttributes: full-object checksums of DR copies that record no source ETag. Asked of
          // the current object (no version id), so s3:GetObject + s3:GetObjectAttributes: the Version
          // actions are needed only when a request names a version (GetObjectAttributes, "Permissions").
          's3:GetObjectAttributes',
        ],
        [objectsArn(s.drBucket)],
      ),
      ...kmsStatements(s, {
        // S3 encrypts with a data key (GenerateDataKey), never with kms:Encrypt; Decrypt completes
        // multipart uploads.
        dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
        source: ['kms:Decrypt'],
        queue: ['kms:Decrypt'],
      }),
    ];
  },
  /**
   * Verify starts, answers and cancels verify jobs (lib/verify/job.ts): it keeps the job's state under
   * .s3dr/jobs/ and queues its first run. The pass itself is the job worker's (verifyRunStatements).
   */
  verify: (s) => [
    // ListBucket: a read of a job object that does not exist yet (the request's active pointer) is a 404
    // only with it, else a 403 (Amazon S3 API Reference, "GetObject", Permissions).
    allow('ListDrBucket', ['s3:ListBucket'], [bucketArn(s.drBucket)]),
    ...jobStatements(s),
    ...kmsStatements(s, {
      dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
      queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
    }),
  ],
  /**
   * Restore starts, answers and cancels jobs (lib/restore/job.ts): it reads the DR bucket's versioning,
   * checks that the target can be listed, keeps the job's state under .s3dr/jobs/ and queues its first
   * step. The copies are the job worker's.
   */
  restore: (s) => {
    const targets = [...new Set([...s.sourceBuckets, ...s.restoreTargets])];
    return [
      // ListBucket: a job's finished shards are counted with a listing; GetBucketVersioning: the report
      // says whether the DR bucket keeps versions.
      allow('ListDrBucket', ['s3:ListBucket', 's3:GetBucketVersioning'], [bucketArn(s.drBucket)]),
      allow('ListRestoreTargets', ['s3:ListBucket'], targets.map(bucketArn)),
      ...jobStatements(s),
      ...kmsStatements(s, {
        dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
        queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
      }),
    ];
  },
  /**
   * The job worker runs restore shards: everything restore reads and writes, plus consuming the job
   * queue (what Lambda's event source mapping needs: "Using Lambda with Amazon SQS").
   */
  jobWorker: (s) => [
    allow(
      'ConsumeJobQueue',
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      [jobQueueArn],
    ),
    ...restoreShardStatements(s),
    // Verify jobs exist on the primary only (the dr stack has no verify function and no replication
    // queue); the dr stack grants the primary's role with `stackRole: 'primary'` (primaryBucketGrants).
    // Its KMS grants are restore's, which cover verify's (lib/verify/job.ts runs verifySources here).
    ...(s.stackRole === 'primary' ? verifyRunStatements(s) : []),
  ],
};

/**
 * What a verify run needs (the job worker, lib/verify/job.ts): list and head both sides, read their
 * tags (deep mode), write only under .s3dr/, hold the run lease, prune the ledger, queue repairs.
 */
function verifyRunStatements(s) {
  const both = [...s.sourceBuckets, s.drBucket];
  return [
    allow('ListSourceAndDrBuckets', ['s3:ListBucket'], both.map(bucketArn)),
    allow(
      'HeadSourceAndDrObjects',
      ['s3:GetObject', 's3:GetObjectAttributes'],
      both.map((b) => objectsArn(b)),
    ),
    // Deep mode compares tag sets too, when tags are replicated: of the current objects (no version id).
    ...(s.copyTags
      ? [
          allow(
            'ReadSourceAndDrTags',
            ['s3:GetObjectTagging'],
            both.map((b) => objectsArn(b)),
          ),
        ]
      : []),
    // Cursor and reports live under the reserved prefix, the only place verify writes.
    allow('WriteVerifierState', ['s3:GetObject', 's3:PutObject'], [objectsArn(s.drBucket, '.s3dr/')]),
    // The run lease that refuses a second concurrent run of the same request: created with
    // If-None-Match, released with a delete (a delete marker in the versioned DR bucket).
    allow(
      'HoldVerifyRunLease',
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      [objectsArn(s.drBucket, `${LEASE_PREFIX}verify/`)],
    ),
    // The ETag ledger's pieces of the previous pass are deleted once read (lib/verify/ledger.ts).
    allow('PruneVerifierLedger', ['s3:DeleteObject'], [objectsArn(s.drBucket, '.s3dr/verify/')]),
    allow('EnqueueRepairTasks', ['sqs:SendMessage'], [queueArn]),
  ];
}

/**
 * What running restore shards needs (the job worker): read DR versions, write the sources and allowed
 * targets, and the job's state and queue.
 */
function restoreShardStatements(s) {
  const targets = [...new Set([...s.sourceBuckets, ...s.restoreTargets])];
  return [
    // GetBucketVersioning: restore tells "no older version" from "bucket not versioned".
    allow(
      'ListDrBucketVersions',
      ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketVersioning'],
      [bucketArn(s.drBucket)],
    ),
    allow(
      'ReadDrObjectVersions',
      [
        's3:GetObject',
        's3:GetObjectVersion',
        's3:GetObjectTagging',
        's3:GetObjectVersionTagging',
        's3:GetObjectAttributes',
        's3:GetObjectVersionAttributes',
        's3:RestoreObject',
      ],
      [objectsArn(s.drBucket)],
    ),
    allow('ListRestoreTargets', ['s3:ListBucket', 's3:ListBucketMultipartUploads'], targets.map(bucketArn)),
    allow(
      'WriteRestoreTargets',
      [
        's3:GetObject',
        's3:PutObject',
        's3:PutObjectTagging',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
        // GetObjectAttributes: checksums that tell whether the target already holds a KMS DR copy's bytes,
        // of the target's current object (no version id: s3:GetObject + s3:GetObjectAttributes).
        's3:GetObjectAttributes',
      ],
      targets.map((b) => objectsArn(b)),
    ),
    ...jobStatements(s),
    ...kmsStatements(s, {
      dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
      source: ['kms:Decrypt', 'kms:GenerateDataKey'],
      queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
    }),
  ];
}

/** A job's state under .s3dr/jobs/ (read, written, listed by prefix) and its messages on the job queue. */
function jobStatements(s) {
  return [
    allow('KeepJobState', ['s3:GetObject', 's3:PutObject'], [objectsArn(s.drBucket, JOB_PREFIX)]),
    allow('QueueJobWork', ['sqs:SendMessage'], [jobQueueArn]),
  ];
}

module.exports = { roleStatements };
