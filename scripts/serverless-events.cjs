'use strict';
/**
 * Variable resolvers for serverless.yml: every value there that is *computed* from the stage
 * parameters — lists expanded per bucket, arithmetic, choices per stack role — comes from here, as a
 * plain function of the parameters. osls calls each export with `{ options, resolveVariable }`
 * (`${file(./scripts/serverless-events.cjs):name}`), at package time, offline: nothing here may
 * call AWS. CommonJS (.cjs) because osls `require`s the file and package.json says `"type": "module"`.
 *
 * Wrong parameters fail `sls package` here, with the parameter's name, instead of failing a deploy
 * half-way or a Lambda at cold start.
 */

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:/;
/**
 * The S3 events s3-dr subscribes ingest to: the one list for both `eventSource` modes. Each notification
 * type is translated to the EventBridge detail-types that carry the same events (S3 User Guide, "Using
 * EventBridge" / "EventBridge event message structure"), so adding a type here adds it to the bucket
 * notifications and to the EventBridge rule alike; a type without a translation fails `sls package`.
 */
const S3_EVENT_TYPES = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*', 's3:LifecycleExpiration:*'];
const EVENTBRIDGE_DETAIL_TYPES = {
  's3:ObjectCreated:*': ['Object Created'],
  's3:ObjectRemoved:*': ['Object Deleted'],
  // EventBridge reports lifecycle expirations as "Object Deleted" with reason "Lifecycle Expiration".
  's3:LifecycleExpiration:*': ['Object Deleted'],
  's3:ObjectTagging:*': ['Object Tags Added', 'Object Tags Deleted'],
  's3:ObjectRestore:Completed': ['Object Restore Completed'],
};
const EVENT_SOURCES = ['notifications', 'eventbridge'];
/**
 * The S3 events ingest subscribes to. Tag changes change neither ETag nor Last-Modified, so they reach DR
 * only through their own events (s3:ObjectTagging:Put / :Delete): subscribed when tags are replicated
 * (copyTags). With thawArchivedSources, also "a restored copy is readable" (s3:ObjectRestore:Completed),
 * which brings the copy of a source replicate had to restore first.
 */
const sourceEventTypes = (s) => [
  ...S3_EVENT_TYPES,
  ...(s.copyTags ? ['s3:ObjectTagging:*'] : []),
  ...(s.thawArchivedSources ? ['s3:ObjectRestore:Completed'] : []),
];
/** What the verifier and the replicator publish (EMF, namespace S3DR, default dimension service). */
const METRICS = {
  namespace: 'S3DR',
  dimension: ['service', 's3-dr'],
};

class ParamError extends Error {
  constructor(name, message) {
    super(`serverless.yml parameter "${name}" ${message}`);
    this.name = 'ParamError';
    // osls prints a resolver's error.stack: the message is all a reader needs.
    this.stack = `${this.name}: ${this.message}`;
  }
}

const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const optional = (name, value) => {
  if (value === null || value === undefined) return undefined;
  const text = String(value).trim();
  if (text === '') {
    throw new ParamError(name, 'is an empty string: leave it unset (~) to mean "none"');
  }
  return text;
};

const integer = (name, value, min, max) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ParamError(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
};

const arns = (name, value) => {
  const items = list(value);
  for (const item of items) {
    if (!ARN.test(item)) throw new ParamError(name, `must hold ARNs, got ${JSON.stringify(item)}`);
  }
  return items;
};

/** `rate(1 hour)` → 3600. Cron schedules have no fixed period: those need `verifySilentSeconds`. */
function schedulePeriodSeconds(schedule) {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(String(schedule).trim());
  if (!match) return undefined;
  const unit = { minute: 60, hour: 3600, day: 86400 }[match[2].replace(/s$/, '')];
  return Number(match[1]) * unit;
}

/** Reads and checks every parameter this file uses. */
async function readSettings(resolveVariable) {
  const param = (name) => resolveVariable(`param:${name}, null`);
  const names = await resolveVariable('self:custom.names');

  const stackRole = String(await param('stackRole'));
  if (stackRole !== 'primary' && stackRole !== 'dr') {
    throw new ParamError('stackRole', `must be "primary" or "dr", got ${JSON.stringify(stackRole)}`);
  }

  const sourceBuckets = list(await param('sourceBuckets'));
  if (sourceBuckets.length === 0) throw new ParamError('sourceBuckets', 'must name at least one bucket');
  const drBucket = String(await param('drBucket'));
  const restoreTargets = list(await param('restoreTargets'));
  for (const [name, buckets] of [
    ['sourceBuckets', sourceBuckets],
    ['drBucket', [drBucket]],
    ['restoreTargets', restoreTargets],
  ]) {
    for (const bucket of buckets) {
      if (!BUCKET_NAME.test(bucket)) {
        throw new ParamError(name, `holds ${JSON.stringify(bucket)}, which is not a valid S3 bucket name`);
      }
    }
  }
  if (sourceBuckets.includes(drBucket) || restoreTargets.includes(drBucket)) {
    throw new ParamError(
      'drBucket',
      'is also a source or restore target; replicating into itself would loop',
    );
  }
  const keyLayout = String(await param('keyLayout'));
  if (keyLayout === 'flat' && sourceBuckets.length > 1) {
    throw new ParamError(
      'keyLayout',
      'is "flat", which maps keys 1:1 and so allows only one source bucket; use "bucket-prefixed"',
    );
  }

  const replicateTimeout = integer('replicateTimeout', await param('replicateTimeout'), 30, 900);
  const replicateBatchWindow = integer('replicateBatchWindow', await param('replicateBatchWindow'), 0, 300);
  const verifySchedule = String(await param('verifySchedule'));
  const schedulePeriod = schedulePeriodSeconds(verifySchedule);
  const silentParam = await param('verifySilentSeconds');
  if (silentParam == null && schedulePeriod === undefined) {
    throw new ParamError(
      'verifySilentSeconds',
      `must be set when verifySchedule is not a rate(): ${verifySchedule}`,
    );
  }
  // CloudWatch periods are multiples of 60 s; one evaluation period of at most 7 days.
  const toPeriod = (seconds) => Math.max(60, Math.ceil(seconds / 60) * 60);
  const verifySilentSeconds = toPeriod(
    integer('verifySilentSeconds', silentParam ?? 3 * schedulePeriod, 60, 604_800),
  );
  const verifyDriftPeriod = toPeriod(Math.min(schedulePeriod ?? 3600, 86_400));

  const adminPrincipalArns = arns(
    'adminPrincipalArn',
    optional('adminPrincipalArn', await param('adminPrincipalArn')),
  );
  const createDrBucket = String(await param('createDrBucket')) === 'true';
  if (stackRole === 'dr' && createDrBucket && adminPrincipalArns.length === 0) {
    throw new ParamError(
      'adminPrincipalArn',
      'must be set when the dr stack creates the DR bucket: the bucket policy lets only this principal ' +
        'delete versions or change versioning, lifecycle or the policy (deploy the dr stack as it)',
    );
  }
  const objectLockMode = optional('objectLockMode', await param('objectLockMode'));
  const objectLockDays = integer('objectLockDays', await param('objectLockDays'), 1, 36_500);
  if (objectLockMode !== undefined && objectLockMode !== 'GOVERNANCE' && objectLockMode !== 'COMPLIANCE') {
    throw new ParamError('objectLockMode', `must be GOVERNANCE, COMPLIANCE or unset, got ${objectLockMode}`);
  }

  const thawParam = String(await param('thawArchivedSources'));
  if (thawParam !== 'true' && thawParam !== 'false') {
    throw new ParamError('thawArchivedSources', `must be true or false, got ${JSON.stringify(thawParam)}`);
  }
  const thawArchivedSources = thawParam === 'true';

  const endpointUrl = optional('endpointUrl', await param('endpointUrl'));
  const awsAccountId = optional('awsAccountId', await param('awsAccountId'));
  if (awsAccountId !== undefined && !/^\d{12}$/.test(awsAccountId)) {
    throw new ParamError('awsAccountId', `must be 12 digits, got ${awsAccountId}`);
  }
  const drAccountId = optional('drAccountId', await param('drAccountId'));
  if (drAccountId !== undefined && !/^\d{12}$/.test(drAccountId)) {
    throw new ParamError('drAccountId', `must be 12 digits, got ${drAccountId}`);
  }
  const eventSource = String(await param('eventSource'));
  if (!EVENT_SOURCES.includes(eventSource)) {
    throw new ParamError(
      'eventSource',
      `must be "notifications" or "eventbridge", got ${JSON.stringify(eventSource)}`,
    );
  }
  if ((await param('replicateReservedConcurrency')) != null) {
    throw new ParamError(
      'replicateReservedConcurrency',
      'is no longer used: Lambda throttles batches beyond reserved concurrency and each throttled receive ' +
        'counts toward maxReceiveCount, so tasks reached the DLQ unprocessed. Use replicateMaxConcurrency',
    );
  }
  // AWS: MaximumConcurrency of an SQS event source is 2 to 1000 ("Configuring maximum concurrency for
  // Amazon SQS event sources"); unset = no cap.
  const maxConcurrencyParam = await param('replicateMaxConcurrency');
  const replicateMaxConcurrency =
    maxConcurrencyParam == null
      ? undefined
      : integer('replicateMaxConcurrency', maxConcurrencyParam, 2, 1000);
  // Restore and verify jobs (lib/restore-job.ts): the job queue's worker. AWS: MaximumConcurrency is 2
  // to 1000 ("ScalingConfig", AWS Lambda API Reference); the worker runs up to 15 minutes per shard step.
  const jobMaxConcurrency = integer('jobMaxConcurrency', await param('jobMaxConcurrency'), 2, 1000);
  const jobWorkerTimeout = integer('jobWorkerTimeout', await param('jobWorkerTimeout'), 60, 900);
  const jobMaxReceiveCount = integer('jobMaxReceiveCount', await param('jobMaxReceiveCount'), 1, 1000);
  return {
    names,
    stackRole,
    jobMaxConcurrency,
    jobWorkerTimeout,
    jobMaxReceiveCount,
    sourceBuckets,
    drBucket,
    restoreTargets,
    replicateTimeout,
    replicateBatchWindow,
    verifySilentSeconds,
    verifyDriftPeriod,
    adminPrincipalArns,
    createDrBucket,
    objectLockMode,
    objectLockDays,
    thawArchivedSources,
    endpointUrl,
    awsAccountId,
    copyTags: String(await param('copyTags')) === 'true',
    drAccountId,
    eventSource,
    replicateMaxConcurrency,
    sourceRegion: String(await param('sourceRegion')),
    drKmsKeyArn: arns('kmsKeyArn', optional('kmsKeyArn', await param('kmsKeyArn')))[0],
    queueKmsKeyArn: arns('queueKmsKeyArn', optional('queueKmsKeyArn', await param('queueKmsKeyArn')))[0],
    sourceKmsKeyArns: arns('sourceKmsKeyArns', optional('sourceKmsKeyArns', await param('sourceKmsKeyArns'))),
  };
}

// Partition-aware (aws, aws-cn, aws-us-gov): never an `arn:aws:` literal in a template.
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
const PARTITION = '${AWS::Partition}';
const sub = (text) => ({ 'Fn::Sub': text });
const bucketArn = (bucket) => sub(`arn:${PARTITION}:s3:::${bucket}`);
const objectsArn = (bucket, prefix = '') => sub(`arn:${PARTITION}:s3:::${bucket}/${prefix}*`);
/** Where verify and restore hold their run leases (lib/run-lease.ts). */
const LEASE_PREFIX = '.s3dr/leases/';
const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };
const jobQueueArn = { 'Fn::GetAtt': ['JobQueue', 'Arn'] };
/** Where restore and verify jobs keep their state (lib/job-model.ts). */
const JOB_PREFIX = '.s3dr/jobs/';
const dlqArn = { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] };
const allow = (Sid, Action, Resource) => ({ Sid, Effect: 'Allow', Action, Resource });

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
 * only what a request of the function needs — tests/unit/iam-evaluation.test.ts records every request
 * and evaluates it against the packaged roles, and fails on a grant no request uses. Only restore reads
 * object versions (a request naming a versionId is authorised with the *Version* actions: S3 API
 * reference, GetObjectAttributes "Permissions"); replicate and verify read current objects.
 */
const iamRoleStatements = {
  ingest: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
    return [
      allow('EnqueueReplicationTasks', ['sqs:SendMessage'], [queueArn]),
      // The async on-failure destination is written with the function's own role.
      allow('SendAsyncFailuresToDeadLetterQueue', ['sqs:SendMessage'], [dlqArn]),
      ...kmsStatements(s, { queue: ['kms:GenerateDataKey', 'kms:Decrypt'] }),
    ];
  },
  replicate: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
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
  verify: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
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
      // The ETag ledger's pieces of the previous pass are deleted once read (lib/verify-ledger.ts).
      allow('PruneVerifierLedger', ['s3:DeleteObject'], [objectsArn(s.drBucket, '.s3dr/verify/')]),
      allow('EnqueueRepairTasks', ['sqs:SendMessage'], [queueArn]),
      ...kmsStatements(s, {
        dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
        // Deep mode reads source objects (GetObject) where no checksum decides: SSE-KMS needs Decrypt.
        source: ['kms:Decrypt'],
        queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
      }),
    ];
  },
  /**
   * Restore starts, answers and cancels jobs (lib/restore-job.ts): it reads the DR bucket's versioning,
   * checks that the target can be listed, keeps the job's state under .s3dr/jobs/ and queues its first
   * step. The copies are the job worker's.
   */
  restore: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
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
  jobWorker: async (context) => [
    allow(
      'ConsumeJobQueue',
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      [jobQueueArn],
    ),
    ...(await restoreShardStatements(context)),
  ],
};

/**
 * What running restore shards needs (the job worker): read DR versions, write the sources and allowed
 * targets, and the job's state and queue.
 */
async function restoreShardStatements({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
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

/** The EventBridge detail-types for the stage's event types (see S3_EVENT_TYPES), without repeats. */
function eventBridgeDetailTypes(s) {
  const types = [];
  for (const type of sourceEventTypes(s)) {
    const translated = EVENTBRIDGE_DETAIL_TYPES[type];
    if (!translated) {
      throw new ParamError('eventSource', `cannot route ${type} through EventBridge: add its detail-types`);
    }
    for (const t of translated) if (!types.includes(t)) types.push(t);
  }
  return types;
}

/**
 * S3 notifications for the *first* source bucket, through the framework's `existing: true` custom
 * resource. The framework allows one existing bucket per function; the others get the same custom
 * resource from `sourceBucketNotifications` below. With `eventSource: eventbridge` there are none: the
 * EventBridge rule of `eventBridgeRouting` delivers the events instead.
 */
async function ingestEvents({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.eventSource !== 'notifications') return [];
  const [first] = s.sourceBuckets;
  // forceDeploy: every deploy re-applies the notifications, so a deploy repairs a bucket whose
  // notification configuration another tool has overwritten (S3 keeps one per bucket).
  return sourceEventTypes(s).map((event) => ({
    s3: { bucket: first, event, existing: true, forceDeploy: true },
  }));
}

/**
 * `Custom::S3` resources for source buckets 2…N, identical to the one the framework compiles for the
 * first bucket (same handler: it adds the Lambda permission and merges its own entries into the
 * bucket's notification configuration, leaving other entries alone). Chained with DependsOn, as the
 * framework chains its own, so that the handler never edits the function's resource policy
 * concurrently. The handler's role is narrowed by `customResourceRole`.
 */
async function sourceBucketNotifications({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const extra = s.sourceBuckets.slice(1);
  if (s.stackRole !== 'primary' || s.eventSource !== 'notifications' || extra.length === 0) return {};
  const Resources = {};
  let previous = 'IngestCustomS31';
  extra.forEach((bucket, index) => {
    const logicalId = `IngestCustomS3Bucket${index + 2}`;
    Resources[logicalId] = {
      Type: 'Custom::S3',
      DependsOn: ['IngestLambdaFunction', 'IamRoleCustomResourcesLambdaExecution', previous],
      Properties: {
        ServiceToken: { 'Fn::GetAtt': ['CustomDashresourceDashexistingDashs3LambdaFunction', 'Arn'] },
        FunctionName: s.names.ingestFunction,
        BucketName: bucket,
        BucketConfigs: sourceEventTypes(s).map((Event) => ({ Event, Rules: [] })),
        ForceDeploy: Date.now(), // as the framework's forceDeploy: re-applied on every deploy
      },
    };
    previous = logicalId;
  });
  return { Resources };
}

/**
 * The role of the framework's notification custom resource (`IamRoleCustomResourcesLambdaExecution`).
 * The framework grants it `lambda:AddPermission`/`RemovePermission` on every function of the account
 * and region (`function:*`); its handler only ever adds ingest's permission and edits the source
 * buckets' notifications. The extension replaces the role's policies with exactly that.
 */
async function customResourceRole({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.stackRole !== 'primary' || s.eventSource !== 'notifications') return {};
  return {
    extensions: {
      IamRoleCustomResourcesLambdaExecution: {
        Properties: {
          Policies: [
            {
              PolicyName: `${s.names.stage}-${s.names.service}-custom-resources-lambda`,
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  allow(
                    'ConfigureSourceBucketNotifications',
                    ['s3:PutBucketNotification', 's3:GetBucketNotification'],
                    s.sourceBuckets.map(bucketArn),
                  ),
                  allow(
                    'PermitS3ToInvokeIngest',
                    ['lambda:AddPermission', 'lambda:RemovePermission'],
                    [
                      sub(
                        `arn:${PARTITION}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${s.names.ingestFunction}`,
                      ),
                    ],
                  ),
                ],
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * `eventSource: eventbridge`: the source buckets send their events to EventBridge (enabled on each bucket,
 * see README "Deploy"), and one rule on the default bus routes the subscribed detail-types of exactly
 * these buckets to ingest. Ingest, not the queue: ingest validates and maps both envelope shapes to the
 * same task (replicate reads only tasks), and it keeps its async retries and on-failure DLQ. EventBridge's
 * own delivery failures (throttled, denied) go to the DLQ too, after its retry policy.
 */
async function eventBridgeRouting({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.stackRole !== 'primary' || s.eventSource !== 'eventbridge') return {};
  return {
    Resources: {
      IngestEventBridgeRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          Name: s.names.eventBridgeRule,
          Description: `S3 object events of the s3-dr ${s.names.stage} source buckets → ingest`,
          State: 'ENABLED',
          EventPattern: {
            source: ['aws.s3'],
            'detail-type': eventBridgeDetailTypes(s),
            detail: { bucket: { name: s.sourceBuckets } },
          },
          Targets: [
            {
              Id: 'ingest',
              Arn: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
              RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
              DeadLetterConfig: { Arn: dlqArn },
            },
          ],
        },
      },
      IngestEventBridgePermission: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          FunctionName: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
          Action: 'lambda:InvokeFunction',
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': ['IngestEventBridgeRule', 'Arn'] },
        },
      },
    },
  };
}

/** `eventbridge` or `notifications`, for the template's UsesEventBridge condition. */
const eventSource = async ({ resolveVariable }) => (await readSettings(resolveVariable)).eventSource;

/** The SQS event source's ScalingConfig: MaximumConcurrency when replicateMaxConcurrency is set. */
async function replicateMaxConcurrency({ resolveVariable }) {
  return (await readSettings(resolveVariable)).replicateMaxConcurrency ?? null;
}

/**
 * S3DR_DR_BUCKET_OWNER: the account that must own the DR bucket, sent as ExpectedBucketOwner (S3 User
 * Guide, "Verifying bucket ownership with bucket owner condition"). drAccountId when the DR bucket is in
 * another account; otherwise this stack's own account (awsAccountId when given, so the value is literal
 * for `sls invoke local`). None on the emulator.
 */
async function drBucketOwner({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.drAccountId) return s.drAccountId;
  if (s.endpointUrl) return null;
  if (s.awsAccountId) return s.awsAccountId;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  return sub('${AWS::AccountId}');
}

/**
 * S3DR_QUEUE_URL. Locally a literal URL on the emulator (so `sls print`/`invoke local` need no AWS);
 * on AWS a Fn::Sub, because the account id is not known offline — unless the awsAccountId parameter
 * gives it, which makes the URL literal and `sls invoke local` usable against AWS. The dr stack has
 * no queue.
 */
async function queueUrl({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.stackRole !== 'primary') return null;
  if (s.endpointUrl) return `${s.endpointUrl.replace(/\/$/, '')}/000000000000/${s.names.replicationQueue}`;
  if (s.awsAccountId) {
    return `https://sqs.${s.sourceRegion}.amazonaws.com/${s.awsAccountId}/${s.names.replicationQueue}`;
  }
  return {
    'Fn::Sub': `https://sqs.\${AWS::Region}.\${AWS::URLSuffix}/\${AWS::AccountId}/${s.names.replicationQueue}`,
  };
}

/**
 * S3DR_JOB_QUEUE_URL: the job queue of this stack (each stack role has one, in its own region, so a
 * restore job runs from the dr stack with the source region down). Literal locally, Fn::Sub on AWS.
 */
async function jobQueueUrl({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const name = s.names.jobQueue;
  if (s.endpointUrl) return `${s.endpointUrl.replace(/\/$/, '')}/000000000000/${name}`;
  return { 'Fn::Sub': `https://sqs.\${AWS::Region}.\${AWS::URLSuffix}/\${AWS::AccountId}/${name}` };
}

/**
 * The job queue's visibility timeout: AWS, "Creating and configuring an Amazon SQS event source mapping":
 * "set the source queue's visibility timeout to at least six times the configuration timeout on your
 * function" (a shard that reaches its deadline re-queues itself, so the wait only follows a crash).
 */
async function jobVisibilityTimeout({ resolveVariable }) {
  return 6 * (await readSettings(resolveVariable)).jobWorkerTimeout;
}

const jobSettings = {
  maxConcurrency: async ({ resolveVariable }) => (await readSettings(resolveVariable)).jobMaxConcurrency,
  workerTimeout: async ({ resolveVariable }) => (await readSettings(resolveVariable)).jobWorkerTimeout,
  maxReceiveCount: async ({ resolveVariable }) => (await readSettings(resolveVariable)).jobMaxReceiveCount,
};

/** AWS: "set the source queue's visibility timeout to at least six times the function timeout" (+ window). */
async function visibilityTimeout({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  return 6 * s.replicateTimeout + s.replicateBatchWindow;
}

/** Alarm periods derived from the verify schedule. */
const verifyAlarm = {
  silentPeriod: async ({ resolveVariable }) => (await readSettings(resolveVariable)).verifySilentSeconds,
  driftPeriod: async ({ resolveVariable }) => (await readSettings(resolveVariable)).verifyDriftPeriod,
};

async function adminPrincipalArns({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  // An unreachable placeholder keeps the template valid where no bucket is created (condition false).
  return s.adminPrincipalArns.length > 0
    ? s.adminPrincipalArns
    : [sub(`arn:${PARTITION}:iam::000000000000:root`)];
}

/** Errors and Throttles alarms for the three functions that run unattended. */
async function functionAlarms({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const runbook = await resolveVariable('param:runbookUrl');
  const stage = s.names.stage;
  const Resources = {};
  const what = {
    ingest:
      'S3 notifications may not have become replication tasks (after 2 async retries they are in the DLQ)',
    replicate: 'whole batches failed (crash or timeout); their tasks are retried, then land in the DLQ',
    verify: 'a verification run failed; drift is not being detected or repaired',
  };
  for (const fn of ['ingest', 'replicate', 'verify']) {
    const functionName = s.names[`${fn}Function`];
    const Fn = fn[0].toUpperCase() + fn.slice(1);
    const common = {
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: functionName }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
      OKActions: [{ Ref: 'AlarmTopic' }],
    };
    Resources[`${Fn}ErrorsAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Condition: 'IsPrimary',
      Properties: {
        AlarmName: `${functionName}-errors`,
        AlarmDescription:
          `${functionName} had failed invocations in the last 5 minutes: ${what[fn]}. ` +
          `First: npx sls logs -f ${fn} --stage ${stage} --startTime 30m --filter ERROR. ` +
          `Runbook: ${runbook}#function-errors`,
        MetricName: 'Errors',
        ...common,
      },
    };
    Resources[`${Fn}ThrottlesAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Condition: 'IsPrimary',
      Properties: {
        AlarmName: `${functionName}-throttles`,
        AlarmDescription: {
          'Fn::Sub':
            `${functionName} was throttled in the last 5 minutes (the account's unreserved concurrency ` +
            'exhausted): work is delayed, not lost. First: aws lambda get-account-settings --region ' +
            `\${AWS::Region}; aws lambda get-function-concurrency --function-name ${functionName}. ` +
            `Runbook: ${runbook}#function-throttles`,
        },
        MetricName: 'Throttles',
        ...common,
      },
    };
  }
  return { Resources };
}

/** The CloudWatch dashboard, as the JSON body CloudFormation wants (Fn::Sub for region and alarm ARNs). */
async function dashboardBody({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const n = s.names;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  const region = '${AWS::Region}';
  const custom = (name, stat, extra = {}) => [
    METRICS.namespace,
    name,
    ...METRICS.dimension,
    { stat, ...extra },
  ];
  const widget = (title, metrics, extra = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: { title, region, view: 'timeSeries', stacked: false, period: 300, metrics, ...extra },
  });
  const lambda = (fn, metric) => ['AWS/Lambda', metric, 'FunctionName', n[`${fn}Function`], { stat: 'Sum' }];
  const sqs = (queue, metric, stat) => ['AWS/SQS', metric, 'QueueName', queue, { stat }];
  const alarmIds = [
    'DlqNotEmptyAlarm',
    'ReplicationLagAlarm',
    'VerifyDriftAlarm',
    'VerifySilentAlarm',
    ...['Ingest', 'Replicate', 'Verify'].flatMap((f) => [`${f}ErrorsAlarm`, `${f}ThrottlesAlarm`]),
    'JobStalledAlarm',
    'JobDlqNotEmptyAlarm',
  ];
  const body = {
    widgets: [
      {
        type: 'alarm',
        width: 24,
        height: 3,
        properties: { title: 'Alarms', alarms: alarmIds.map((id) => `\${${id}.Arn}`) },
      },
      widget('Events in (S3 notifications → tasks)', [
        custom('EventsIngested', 'Sum'),
        custom('EventsIgnored', 'Sum'),
        custom('EventsInvalid', 'Sum'),
      ]),
      widget('Objects replicated', [
        custom('ObjectsCopied', 'Sum'),
        custom('ObjectsDeleted', 'Sum'),
        custom('ObjectsSkipped', 'Sum'),
        custom('ObjectsRetained', 'Sum'),
        custom('Failures', 'Sum'),
      ]),
      // Sources S3 cannot copy as they are (archived, SSE-C): a dashboard matter, not an alarm (README,
      // "Archived and SSE-C sources").
      widget('Unreplicable sources (archived, SSE-C)', [
        custom('ObjectsUnreplicable', 'Sum'),
        custom('ObjectsThawing', 'Sum'),
        custom('VerifyUnreplicable', 'Maximum', { yAxis: 'right', label: 'VerifyUnreplicable (per run)' }),
      ]),
      widget('Bytes copied', [custom('BytesCopied', 'Sum')]),
      widget('Replication lag (event → DR), ms', [
        custom('ReplicationLagMs', 'p50', { label: 'p50' }),
        custom('ReplicationLagMs', 'p99', { label: 'p99' }),
      ]),
      widget('Replication queue', [
        sqs(n.replicationQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
        sqs(n.replicationQueue, 'ApproximateNumberOfMessagesNotVisible', 'Maximum'),
        sqs(n.replicationQueue, 'ApproximateAgeOfOldestMessage', 'Maximum'),
      ]),
      widget('Dead-letter queue', [sqs(n.deadLetterQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum')]),
      widget(
        'Verifier',
        [
          custom('VerifyMissing', 'Sum'),
          custom('VerifyMismatched', 'Sum'),
          custom('VerifyOrphaned', 'Sum'),
          custom('VerifyObjectsChecked', 'Sum', { yAxis: 'right' }),
          custom('VerifyPassComplete', 'Sum', { yAxis: 'right' }),
        ],
        { period: 3600 },
      ),
      // Restore jobs: progress (objects examined per period), and the work waiting for workers.
      widget('Restore jobs', [
        custom('JobObjectsExamined', 'Sum'),
        sqs(n.jobQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
        sqs(n.jobQueue, 'ApproximateNumberOfMessagesNotVisible', 'Maximum'),
        sqs(n.jobDeadLetterQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
      ]),
      widget(
        'Lambda errors and throttles',
        ['ingest', 'replicate', 'verify', 'restore'].flatMap((fn) => [
          lambda(fn, 'Errors'),
          ...(fn === 'restore' ? [] : [lambda(fn, 'Throttles')]),
        ]),
      ),
    ],
  };
  return { 'Fn::Sub': JSON.stringify(body) };
}

/** Encryption settings that depend on whether a KMS key is configured (null = property left out). */
const encryption = {
  sqsManagedSse: async ({ resolveVariable }) =>
    (await readSettings(resolveVariable)).queueKmsKeyArn ? null : true,
  drSseAlgorithm: async ({ resolveVariable }) =>
    (await readSettings(resolveVariable)).drKmsKeyArn ? 'aws:kms' : 'AES256',
  drBucketKey: async ({ resolveVariable }) =>
    (await readSettings(resolveVariable)).drKmsKeyArn ? true : null,
};

/** Default retention on every new DR version, when objectLockMode is set. */
const objectLock = {
  enabled: async ({ resolveVariable }) =>
    (await readSettings(resolveVariable)).objectLockMode ? true : null,
  configuration: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
    if (!s.objectLockMode) return null;
    return {
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: s.objectLockMode, Days: s.objectLockDays } },
    };
  },
};

/** Booleans as the strings CloudFormation's Fn::Equals compares (a --param is "true", YAML is true). */
const flag = {
  createDrBucket: async ({ resolveVariable }) => String((await readSettings(resolveVariable)).createDrBucket),
};

/** Forces every check above to run once, early, whatever the stack role (see custom.checkedParams). */
async function checkParams({ resolveVariable }) {
  await readSettings(resolveVariable);
  return 'ok';
}

module.exports = {
  // For tests/unit/template.test.ts: both modes subscribe from these.
  S3_EVENT_TYPES,
  EVENTBRIDGE_DETAIL_TYPES,
  checkParams,
  ingestEvents,
  sourceBucketNotifications,
  customResourceRole,
  eventBridgeRouting,
  eventSource,
  replicateMaxConcurrency,
  drBucketOwner,
  iamRoleStatements,
  queueUrl,
  visibilityTimeout,
  jobQueueUrl,
  jobVisibilityTimeout,
  jobSettings,
  verifyAlarm,
  adminPrincipalArns,
  flag,
  encryption,
  objectLock,
  functionAlarms,
  dashboardBody,
};
