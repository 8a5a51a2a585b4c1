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

/**
 * The replication-rules module the functions use (lib/core/replication-rules.ts), loaded here too so that
 * `sls package` and a cold start judge a rule set with the same code. Node 22 requires a `.ts` ES module
 * from CommonJS as is (type stripping, require(esm)); loaded on first use only.
 */
const replicationRules = () => require('../lib/core/replication-rules.ts');
/**
 * Lambda keeps at most 4 KB of environment variables per function ("Lambda quotas", AWS Lambda Developer
 * Guide); the rules travel in S3DR_RULES beside about 1.5 KB of other settings.
 */
const MAX_RULES_JSON_BYTES = 2048;

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

/**
 * The `rules` parameter: a YAML list in `params:`, or its JSON text (`--param="rules=[…]"`); unset = no
 * rules. Checked with lib/core/replication-rules.ts; each problem names the rule and the field.
 */
function readRules(value, copyTags) {
  if (value === null || value === undefined || value === '') return [];
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch (error) {
      throw new ParamError('rules', `is not a YAML list or JSON (${error.message})`);
    }
  }
  const { parseRules, rulesNeedTags } = replicationRules();
  const parsed = parseRules(list);
  if (!parsed.ok) throw new ParamError('rules', parsed.problems.join('; '));
  if (rulesNeedTags(parsed.rules) && !copyTags) {
    throw new ParamError(
      'rules',
      'has rules that filter by tags, which need copyTags: true (tag changes move keys between rules)',
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(parsed.rules), 'utf8');
  if (bytes > MAX_RULES_JSON_BYTES) {
    throw new ParamError(
      'rules',
      `takes ${bytes} bytes as JSON, more than the ${MAX_RULES_JSON_BYTES} its environment variable may use (Lambda allows 4 KB in all)`,
    );
  }
  return parsed.rules;
}

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
  const rules = readRules(await param('rules'), String(await param('copyTags')) === 'true');
  // AWS: MaximumConcurrency of an SQS event source is 2 to 1000 ("Configuring maximum concurrency for
  // Amazon SQS event sources"); unset = no cap.
  const maxConcurrencyParam = await param('replicateMaxConcurrency');
  const replicateMaxConcurrency =
    maxConcurrencyParam == null
      ? undefined
      : integer('replicateMaxConcurrency', maxConcurrencyParam, 2, 1000);
  // Restore and verify jobs (lib/restore/job.ts): the job queue's worker. AWS: MaximumConcurrency is 2
  // to 1000 ("ScalingConfig", AWS Lambda API Reference); the worker runs up to 15 minutes per shard step.
  const jobMaxConcurrency = integer('jobMaxConcurrency', await param('jobMaxConcurrency'), 2, 1000);
  const jobWorkerTimeout = integer('jobWorkerTimeout', await param('jobWorkerTimeout'), 60, 900);
  const jobMaxReceiveCount = integer('jobMaxReceiveCount', await param('jobMaxReceiveCount'), 1, 1000);
  const settings = {
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
    rules,
    drAccountId,
    eventSource,
    replicateMaxConcurrency,
    sourceRegion: String(await param('sourceRegion')),
    drKmsKeyArn: arns('kmsKeyArn', optional('kmsKeyArn', await param('kmsKeyArn')))[0],
    queueKmsKeyArn: arns('queueKmsKeyArn', optional('queueKmsKeyArn', await param('queueKmsKeyArn')))[0],
    sourceKmsKeyArns: arns('sourceKmsKeyArns', optional('sourceKmsKeyArns', await param('sourceKmsKeyArns'))),
  };
  return { ...settings, ...(await readDrAccountSettings(param, settings)) };
}

// Partition-aware (aws, aws-cn, aws-us-gov): never an `arn:aws:` literal in a template.
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
const PARTITION = '${AWS::Partition}';
const sub = (text) => ({ 'Fn::Sub': text });
const bucketArn = (bucket) => sub(`arn:${PARTITION}:s3:::${bucket}`);
const objectsArn = (bucket, prefix = '') => sub(`arn:${PARTITION}:s3:::${bucket}/${prefix}*`);
/** Where verify and restore hold their run leases (lib/verify/run-lease.ts). */
const LEASE_PREFIX = '.s3dr/leases/';
const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };
const jobQueueArn = { 'Fn::GetAtt': ['JobQueue', 'Arn'] };
/** Where restore and verify jobs keep their state (lib/jobs/model.ts). */
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
  /**
   * Verify starts, answers and cancels verify jobs (lib/verify/job.ts): it keeps the job's state under
   * .s3dr/jobs/ and queues its first run. The pass itself is the job worker's (verifyRunStatements).
   */
  verify: async ({ resolveVariable }) => {
    const s = await readSettings(resolveVariable);
    return [
      // ListBucket: a read of a job object that does not exist yet (the request's active pointer) is a 404
      // only with it, else a 403 (Amazon S3 API Reference, "GetObject", Permissions).
      allow('ListDrBucket', ['s3:ListBucket'], [bucketArn(s.drBucket)]),
      ...jobStatements(s),
      ...kmsStatements(s, {
        dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
        queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
      }),
    ];
  },
  /**
   * Restore starts, answers and cancels jobs (lib/restore/job.ts): it reads the DR bucket's versioning,
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
  jobWorker: async (context) => {
    const s = await readSettings(context.resolveVariable);
    // Verify jobs exist on the primary only (the dr stack has no verify function and no replication
    // queue); `stackRole` is given when the dr stack grants the primary's role (primaryBucketGrants).
    const primary = (context.stackRole ?? s.stackRole) === 'primary';
    return [
      allow(
        'ConsumeJobQueue',
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        [jobQueueArn],
      ),
      ...(await restoreShardStatements(context)),
      // Its KMS grants are restore's, which cover verify's (lib/verify/job.ts runs verifySources here).
      ...(primary ? verifyRunStatements(s) : []),
    ];
  },
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
 * The notification entries per source bucket: one per event type, or — when the replication rules leave
 * only some prefixes replicated (a catch-all exclusion last) — one per event type and prefix, so S3 sends
 * no event replicate would drop. S3 filters a notification by one prefix (and suffix) only, never by
 * exclusion, and refuses overlapping configurations for one event type ("Configuring event notifications
 * using object key name filtering", Amazon S3 User Guide): the prefixes never overlap
 * (eventKeyFilters). Exclusions alone cannot be expressed there; EventBridge can (eventBridgeRouting).
 */
function notificationFilters(s) {
  const { includePrefixes } = replicationRules().eventKeyFilters(s.rules);
  return sourceEventTypes(s).flatMap((event) =>
    includePrefixes ? includePrefixes.map((prefix) => ({ event, rules: [{ prefix }] })) : [{ event }],
  );
}

/**
 * `detail.object.key` of the EventBridge rule, or undefined for every key: the include prefixes when the
 * rules leave only those replicated, else a single exclusion as `anything-but` prefix ("Comparison
 * operators for use in event patterns in Amazon EventBridge": one prefix per `anything-but`; the values
 * of one field are alternatives, so several exclusions cannot be combined there — they are left to
 * replicate, which drops their events).
 */
function eventBridgeKeyFilter(s) {
  const { includePrefixes, excludePrefixes } = replicationRules().eventKeyFilters(s.rules);
  if (includePrefixes) return includePrefixes.map((prefix) => ({ prefix }));
  if (excludePrefixes.length === 1) return [{ 'anything-but': { prefix: excludePrefixes[0] } }];
  return undefined;
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
  return notificationFilters(s).flatMap(({ event, rules }) => ({
    s3: { bucket: first, event, existing: true, forceDeploy: true, ...(rules ? { rules } : {}) },
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
        BucketConfigs: notificationFilters(s).map(({ event, rules }) => ({
          Event: event,
          Rules: (rules ?? []).map(({ prefix }) => ({ Prefix: prefix })),
        })),
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
  const keyFilter = eventBridgeKeyFilter(s);
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
            detail: {
              bucket: { name: s.sourceBuckets },
              ...(keyFilter ? { object: { key: keyFilter } } : {}),
            },
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

/** S3DR_RULES: the checked rules as JSON, or null (unset) when there are none. */
async function rulesJson({ resolveVariable }) {
  const { rules } = await readSettings(resolveVariable);
  return rules.length > 0 ? JSON.stringify(rules) : null;
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

// ==================================================================== DR account (issue #14)
// The dr stack in an account of its own (`primaryAccountId` on the dr stack, `drAccountId` on the
// primary): the DR bucket's policy and the DR key's policy grant the primary's replicate, verify, jobWorker and
// restore roles exactly what each needs on the DR bucket, and refuse every principal of the primary
// account anything that could shorten what DR keeps (docs/design.md, invariant 2).

/** The primary functions that reach the DR bucket, each with a role of its own. */
const DR_ACCOUNT_FUNCTIONS = ['replicate', 'verify', 'restore', 'jobWorker'];
const ACCOUNT_ID = /^\d{12}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
/**
 * What no principal of the primary account may do to the DR bucket, whatever its own IAM says: erase a
 * version, or change what protects the versions (policy, versioning, lifecycle, Object Lock, retention,
 * ownership and ACLs, encryption, public access, replication). Denied explicitly, besides being granted
 * to nobody, so a grant added by mistake later cannot reopen them.
 */
const DR_BUCKET_PROTECTED_ACTIONS = [
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutBucketOwnershipControls',
  's3:PutBucketAcl',
  's3:PutObjectAcl',
  's3:PutObjectVersionAcl',
  's3:PutEncryptionConfiguration',
  's3:PutBucketPublicAccessBlock',
  's3:PutReplicationConfiguration',
];
/** The same for the DR key: its policy, its life and who else may use it. */
const DR_KEY_PROTECTED_ACTIONS = [
  'kms:ScheduleKeyDeletion',
  'kms:DisableKey',
  'kms:PutKeyPolicy',
  'kms:CreateGrant',
  'kms:RevokeGrant',
  'kms:RetireGrant',
  'kms:DisableKeyRotation',
  'kms:UpdateKeyDescription',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:Encrypt',
];
/** What S3 asks of the DR key for a primary role: data keys to write, Decrypt to read (and complete uploads). */
const DR_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/**
 * The role name serverless-iam-roles-per-function gives a function that names none: the framework's role
 * name `<service>-<stage>-<region>-lambdaRole` with the function inserted after the stage, without the
 * `lambdaRole` suffix when that makes it longer than IAM's 64 characters. Deterministic, so the dr stack
 * can name the primary's roles exactly (tests/unit/dr-account.test.ts compares it with the primary
 * template's RoleName).
 */
function defaultRoleName(service, stage, fn, region) {
  const parts = [service, stage, fn, region, 'lambdaRole'];
  if (parts.join('-').length > 64) parts.pop();
  return parts.join('-');
}

/** Parameters of the DR-account mode, checked; folded into the settings by readSettings. */
async function readDrAccountSettings(param, s) {
  const accountId = (name, value) => {
    const text = optional(name, value);
    if (text !== undefined && !ACCOUNT_ID.test(text)) {
      throw new ParamError(name, `must be 12 digits, got ${JSON.stringify(text)}`);
    }
    return text;
  };
  const primaryAccountId = accountId('primaryAccountId', await param('primaryAccountId'));
  const createDrKmsKeyParam = String(await param('createDrKmsKey'));
  if (createDrKmsKeyParam !== 'true' && createDrKmsKeyParam !== 'false') {
    throw new ParamError(
      'createDrKmsKey',
      `must be true or false, got ${JSON.stringify(createDrKmsKeyParam)}`,
    );
  }
  const createDrKmsKey = createDrKmsKeyParam === 'true';
  if (primaryAccountId && s.drAccountId && primaryAccountId === s.drAccountId) {
    throw new ParamError('primaryAccountId', 'equals drAccountId: the DR account must be another account');
  }
  const accountOfArn = (arn) => arn.split(':')[4];

  // The primary's role names: the plugin's names for this stage and sourceRegion, or named one by one.
  const overrides = {};
  for (const item of list(await param('primaryRoleNames'))) {
    const [fn, name, extra] = item.split('=').map((x) => x.trim());
    if (!DR_ACCOUNT_FUNCTIONS.includes(fn) || !name || extra !== undefined || !ROLE_NAME.test(name)) {
      throw new ParamError(
        'primaryRoleNames',
        `must be <function>=<role name> items for ${DR_ACCOUNT_FUNCTIONS.join(', ')}, got ${JSON.stringify(item)}`,
      );
    }
    overrides[fn] = name;
  }
  const primaryRoleNames = Object.fromEntries(
    DR_ACCOUNT_FUNCTIONS.map((fn) => [
      fn,
      overrides[fn] ?? defaultRoleName(s.names.service, s.names.stage, fn, s.sourceRegion),
    ]),
  );

  // Game day (README "Game day: the source account is compromised"): `deny` withdraws every grant to
  // the primary account and denies it every S3 action on the DR bucket and every KMS action on the key.
  const primaryAccess = String((await param('primaryAccess')) ?? 'allow');
  if (primaryAccess !== 'allow' && primaryAccess !== 'deny') {
    throw new ParamError('primaryAccess', `must be "allow" or "deny", got ${JSON.stringify(primaryAccess)}`);
  }
  const out = { primaryAccountId, primaryRoleNames, createDrKmsKey, primaryAccess };
  if (s.stackRole === 'primary') {
    // The primary encrypts DR copies with the DR account's key: a key of another account is a typo.
    if (s.drAccountId && s.drKmsKeyArn && accountOfArn(s.drKmsKeyArn) !== s.drAccountId) {
      throw new ParamError(
        'kmsKeyArn',
        `must be a key of the DR account ${s.drAccountId}, got ${s.drKmsKeyArn}`,
      );
    }
    if (createDrKmsKey && !s.drKmsKeyArn) {
      throw new ParamError(
        'kmsKeyArn',
        'must be set on the primary stack when the dr stack creates the DR key (createDrKmsKey): ' +
          'deploy the dr stack first and set kmsKeyArn to its DrKmsKeyArn output',
      );
    }
    return out;
  }
  // dr stack: the key it creates replaces kmsKeyArn (which, on a stage shared by both stacks, names it).
  if (createDrKmsKey) out.drKmsKeyArn = { 'Fn::GetAtt': ['DrKmsKey', 'Arn'] };
  if (!primaryAccountId) return out;
  if (!createDrKmsKey && s.drKmsKeyArn) {
    throw new ParamError(
      'kmsKeyArn',
      'names a key the dr stack does not manage, whose key policy would have to grant the primary ' +
        'account by hand: set createDrKmsKey: true instead (or leave kmsKeyArn unset for SSE-S3)',
    );
  }
  for (const arn of s.adminPrincipalArns) {
    if (accountOfArn(arn) === primaryAccountId) {
      throw new ParamError(
        'adminPrincipalArn',
        `names ${arn}, of the primary account: the DR bucket's admin must belong to the DR account`,
      );
    }
  }
  // Immutable by default: a DR account without Object Lock would leave the DR account's own admins able
  // to erase the backup. COMPLIANCE unless the stage chooses GOVERNANCE.
  out.objectLockMode = s.objectLockMode ?? 'COMPLIANCE';
  return out;
}

/** `arn:<partition>:iam::<primary account>:role/<name>` of a primary function's role. */
const primaryRoleArn = (s, fn) =>
  sub(`arn:${PARTITION}:iam::${s.primaryAccountId}:role/${s.primaryRoleNames[fn]}`);
const primaryAccountRoot = (s) => sub(`arn:${PARTITION}:iam::${s.primaryAccountId}:root`);
const capitalized = (text) => `${text[0].toUpperCase()}${text.slice(1)}`;

/**
 * The primary's grants on the DR bucket, for its bucket policy: each primary role's own statements on the
 * DR bucket (iamRoleStatements, the ones the IAM evaluation proves are all needed), restricted to their
 * DR resources, for that role alone. The principal is the primary account and the condition names the
 * exact role ARN (aws:PrincipalArn): a policy naming the role itself as principal fails to save until
 * the role exists, and stops matching when the role is re-created (IAM User Guide, "AWS JSON policy
 * elements: Principal", IAM roles) — so the dr stack could not be deployed first, and a redeploy of the
 * primary would cut replication silently.
 */
async function primaryBucketGrants(s, resolveVariable) {
  const drResource = (r) => {
    const text = String(r?.['Fn::Sub']);
    return (
      text === `arn:${PARTITION}:s3:::${s.drBucket}` ||
      text.startsWith(`arn:${PARTITION}:s3:::${s.drBucket}/`)
    );
  };
  const grants = [];
  for (const fn of DR_ACCOUNT_FUNCTIONS) {
    for (const statement of await iamRoleStatements[fn]({ resolveVariable, stackRole: 'primary' })) {
      const Resource = statement.Resource.filter(drResource);
      if (Resource.length === 0) continue;
      grants.push({
        Sid: `Primary${capitalized(fn)}${statement.Sid}`,
        Effect: 'Allow',
        Principal: { AWS: primaryAccountRoot(s) },
        Action: statement.Action,
        Resource,
        Condition: { ArnEquals: { 'aws:PrincipalArn': primaryRoleArn(s, fn) } },
      });
    }
  }
  return grants;
}

/** The DR bucket policy's statements: TLS only, protections for the admin alone, the DR-account grants. */
async function drBucketPolicyStatements({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const bucket = [bucketArn(s.drBucket), objectsArn(s.drBucket)];
  return [
    {
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: bucket,
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
    // The backup's own protections can be lifted only by the admin principal(s): not by replicate's
    // role, nor by any other identity in the account, however broad its IAM.
    {
      Sid: 'DenyVersionDeletionAndProtectionChangesExceptAdmin',
      Effect: 'Deny',
      Principal: '*',
      Action: [
        's3:DeleteObjectVersion',
        's3:PutLifecycleConfiguration',
        's3:PutBucketVersioning',
        's3:PutBucketPolicy',
        's3:DeleteBucketPolicy',
        's3:DeleteBucket',
        's3:PutBucketObjectLockConfiguration',
        's3:BypassGovernanceRetention',
      ],
      Resource: bucket,
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': await adminPrincipalArns({ resolveVariable }) } },
    },
    ...(s.stackRole === 'dr' && s.primaryAccountId
      ? [
          s.primaryAccess === 'deny'
            ? {
                Sid: 'DenyPrimaryAccountEverything',
                Effect: 'Deny',
                Principal: '*',
                Action: 's3:*',
                Resource: bucket,
                Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
              }
            : {
                Sid: 'DenyPrimaryAccountProtectionChanges',
                Effect: 'Deny',
                Principal: '*',
                Action: DR_BUCKET_PROTECTED_ACTIONS,
                Resource: bucket,
                Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
              },
          ...(s.primaryAccess === 'deny' ? [] : await primaryBucketGrants(s, resolveVariable)),
        ]
      : []),
  ];
}

/**
 * `createDrKmsKey` (dr stack): a customer managed key for the DR bucket, kept like the bucket. Its policy
 * lets this account's IAM manage and use it (the default key policy's statement, without which the key
 * could not be managed at all), lets each primary role use it only through S3 in this region
 * (kms:ViaService), and refuses the primary account every change to the key.
 */
async function drKmsKey({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  if (s.stackRole !== 'dr' || !s.createDrKmsKey) return {};
  const denied = s.primaryAccess === 'deny';
  const primary = s.primaryAccountId
    ? [
        {
          Sid: denied ? 'DenyPrimaryAccountEverything' : 'DenyPrimaryAccountKeyChanges',
          Effect: 'Deny',
          Principal: '*',
          Action: denied ? 'kms:*' : DR_KEY_PROTECTED_ACTIONS,
          Resource: '*',
          Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
        },
        ...(denied ? [] : DR_ACCOUNT_FUNCTIONS).map((fn) => ({
          Sid: `Primary${capitalized(fn)}UsesKeyThroughS3`,
          Effect: 'Allow',
          Principal: { AWS: primaryAccountRoot(s) },
          Action: DR_KEY_USE_ACTIONS,
          Resource: '*',
          Condition: {
            ArnEquals: { 'aws:PrincipalArn': primaryRoleArn(s, fn) },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
            StringEquals: { 'kms:ViaService': sub('s3.${AWS::Region}.${AWS::URLSuffix}') },
          },
        })),
      ]
    : [];
  return {
    Resources: {
      DrKmsKey: {
        Type: 'AWS::KMS::Key',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          Description: `s3-dr ${s.names.stage}: encrypts the DR bucket ${s.drBucket}`,
          EnableKeyRotation: true,
          PendingWindowInDays: 30,
          KeyPolicy: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'EnableIamPoliciesOfThisAccount',
                Effect: 'Allow',
                Principal: { AWS: sub(`arn:${PARTITION}:iam::\${AWS::AccountId}:root`) },
                Action: 'kms:*',
                Resource: '*',
              },
              ...primary,
            ],
          },
        },
      },
      DrKmsKeyAlias: {
        Type: 'AWS::KMS::Alias',
        Properties: {
          AliasName: `alias/${s.names.service}-${s.names.stage}-dr`,
          TargetKeyId: { Ref: 'DrKmsKey' },
        },
      },
    },
    Outputs: {
      // The primary stack's kmsKeyArn (it encrypts DR copies with this key, by ARN: S3 resolves an alias
      // in the requester's account).
      DrKmsKeyArn: { Value: { 'Fn::GetAtt': ['DrKmsKey', 'Arn'] } },
    },
  };
}

/** The DR bucket's default-encryption key: the created DR key, kmsKeyArn, or none (SSE-S3). */
async function drBucketKmsKeyId({ resolveVariable }) {
  return (await readSettings(resolveVariable)).drKmsKeyArn ?? null;
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
  rulesJson,
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
  // DR account (issue #14)
  DR_BUCKET_PROTECTED_ACTIONS,
  DR_KEY_PROTECTED_ACTIONS,
  drBucketPolicyStatements,
  drKmsKey,
  drBucketKmsKeyId,
};
