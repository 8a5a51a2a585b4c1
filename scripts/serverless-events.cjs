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
const S3_EVENT_TYPES = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*', 's3:LifecycleExpiration:*'];
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

  const endpointUrl = optional('endpointUrl', await param('endpointUrl'));
  const awsAccountId = optional('awsAccountId', await param('awsAccountId'));
  if (awsAccountId !== undefined && !/^\d{12}$/.test(awsAccountId)) {
    throw new ParamError('awsAccountId', `must be 12 digits, got ${awsAccountId}`);
  }
  return {
    names,
    stackRole,
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
    endpointUrl,
    awsAccountId,
    sourceRegion: String(await param('sourceRegion')),
    drKmsKeyArn: arns('kmsKeyArn', optional('kmsKeyArn', await param('kmsKeyArn')))[0],
    queueKmsKeyArn: arns('queueKmsKeyArn', optional('queueKmsKeyArn', await param('queueKmsKeyArn')))[0],
    sourceKmsKeyArns: arns('sourceKmsKeyArns', optional('sourceKmsKeyArns', await param('sourceKmsKeyArns'))),
  };
}

const bucketArn = (bucket) => `arn:aws:s3:::${bucket}`;
const objectsArn = (bucket, prefix = '') => `arn:aws:s3:::${bucket}/${prefix}*`;
const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };
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
      allow('ListDrBucket', ['s3:ListBucket', 's3:ListBucketMultipartUploads'], [bucketArn(s.drBucket)]),
      allow(
        'WriteDrObjects',
        [
          's3:GetObject',
          's3:PutObject',
          's3:PutObjectTagging',
          's3:DeleteObject',
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
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
      // Cursor and reports live under the reserved prefix, the only place verify writes.
      allow('WriteVerifierState', ['s3:GetObject', 's3:PutObject'], [objectsArn(s.drBucket, '.s3dr/')]),
      allow('EnqueueRepairTasks', ['sqs:SendMessage'], [queueArn]),
      ...kmsStatements(s, {
        dr: ['kms:Decrypt', 'kms:GenerateDataKey'],
        // Deep verification reads source objects' bytes: SSE-KMS sources need their key.
        source: ['kms:Decrypt'],
        queue: ['kms:GenerateDataKey', 'kms:Decrypt'],
      }),
    ];
  },
  restore: async ({ resolveVariable }) => {
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
        ],
        targets.map((b) => objectsArn(b)),
      ),
      ...kmsStatements(s, {
        dr: ['kms:Decrypt'],
        source: ['kms:Decrypt', 'kms:GenerateDataKey'],
      }),
    ];
  },
};

/**
 * S3 notifications for the *first* source bucket, through the framework's `existing: true` custom
 * resource. The framework allows one existing bucket per function; the others get the same custom
 * resource from `sourceBucketNotifications` below.
 */
async function ingestEvents({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const [first] = s.sourceBuckets;
  // forceDeploy: every deploy re-applies the notifications, so a deploy repairs a bucket whose
  // notification configuration another tool has overwritten (S3 keeps one per bucket).
  return S3_EVENT_TYPES.map((event) => ({ s3: { bucket: first, event, existing: true, forceDeploy: true } }));
}

/**
 * `Custom::S3` resources for source buckets 2…N, identical to the one the framework compiles for the
 * first bucket (same handler: it adds the Lambda permission and merges its own entries into the
 * bucket's notification configuration, leaving other entries alone), plus the permission for that
 * handler to edit these buckets' notifications. Chained with DependsOn, as the framework chains its
 * own, so that the handler never edits the function's resource policy concurrently.
 */
async function sourceBucketNotifications({ resolveVariable }) {
  const s = await readSettings(resolveVariable);
  const extra = s.sourceBuckets.slice(1);
  if (s.stackRole !== 'primary' || extra.length === 0) return {};
  const Resources = {
    IngestCustomS3ExtraBucketsPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: `${s.names.service}-${s.names.stage}-existing-s3-extra-buckets`,
        Roles: [{ Ref: 'IamRoleCustomResourcesLambdaExecution' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            allow(
              'ConfigureSourceBucketNotifications',
              ['s3:PutBucketNotification', 's3:GetBucketNotification'],
              extra.map(bucketArn),
            ),
          ],
        },
      },
    },
  };
  let previous = 'IngestCustomS31';
  extra.forEach((bucket, index) => {
    const logicalId = `IngestCustomS3Bucket${index + 2}`;
    Resources[logicalId] = {
      Type: 'Custom::S3',
      DependsOn: ['IngestLambdaFunction', 'IngestCustomS3ExtraBucketsPolicy', previous],
      Properties: {
        ServiceToken: { 'Fn::GetAtt': ['CustomDashresourceDashexistingDashs3LambdaFunction', 'Arn'] },
        FunctionName: s.names.ingestFunction,
        BucketName: bucket,
        BucketConfigs: S3_EVENT_TYPES.map((Event) => ({ Event, Rules: [] })),
        ForceDeploy: Date.now(), // as the framework's forceDeploy: re-applied on every deploy
      },
    };
    previous = logicalId;
  });
  return { Resources };
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
  return s.adminPrincipalArns.length > 0 ? s.adminPrincipalArns : ['arn:aws:iam::000000000000:root'];
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
            `${functionName} was throttled in the last 5 minutes (account or reserved concurrency ` +
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
  checkParams,
  ingestEvents,
  sourceBucketNotifications,
  iamRoleStatements,
  queueUrl,
  visibilityTimeout,
  verifyAlarm,
  adminPrincipalArns,
  flag,
  encryption,
  objectLock,
  functionAlarms,
  dashboardBody,
};
