/**
 * serverless.yml, as CloudFormation: packaged offline (`sls package`, no AWS credentials) for the
 * primary stack, the dr stack and a two-bucket variant, then asserted resource by resource.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import { PRIMARY_OUTPUT_KEYS, primaryOutputsSchema } from '../e2e/stack-outputs.ts';
import {
  allPolicies,
  asList,
  type CfnTemplate,
  condition,
  createdResources,
  effective,
  get,
  type PolicyStatement,
  packageTemplate,
  printConfig,
  referencedIds,
  resource,
  resourcesOfType,
  roleStatements,
  root,
  runSls,
  SLS_TIMEOUT_MS,
  type SlsResult,
} from '../helpers/template.ts';

const ADMIN = 'arn:aws:iam::123456789012:role/s3dr-admin';
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/s3dr-break-glass';
const DR_KEY = 'arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const QUEUE_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-8888-9999-000000000000';
const SOURCE_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

const s3Arn = (b: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${b}` });
const objectsArn = (b: string, prefix = '') => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${b}/${prefix}*` });
const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };
const dlqArn = { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] };
const topic = [{ Ref: 'AlarmTopic' }];

/** The primary stack of the dev stage, as configured (one source bucket, SSE-S3, no KMS). */
let dev: CfnTemplate;
/** The dr stack: DR bucket with SSE-KMS, Object Lock and two admin principals. */
let dr: CfnTemplate;
/** The primary stack with two source buckets, a restore target, KMS keys everywhere and thawing on. */
let two: CfnTemplate;
/** eventSource: eventbridge, two source buckets, a replicate concurrency cap and a DR account. */
let eb: CfnTemplate;
/** `sls print --stage local`, what the local runtime reads. */
let local: Record<string, unknown>;
const DR_ACCOUNT = '444455556666';

/** `sls print --stage local --param=copyTags=false`. */
let localWithoutTags: Record<string, unknown>;
/**
 * `sls package --stage dev --param=<one bad parameter>`, each of which must be refused: run with the
 * packages above rather than one at a time in their tests.
 */
const REFUSED = [
  'replicateReservedConcurrency=10',
  'replicateMaxConcurrency=1',
  'jobMaxConcurrency=1',
  'thawArchivedSources=yes',
  'sourceBuckets=a-bucket,b-bucket',
  'stackRole=dr',
  'eventSource=sns',
] as const;
let refusals: Map<string, SlsResult>;
const refused = (param: (typeof REFUSED)[number]): SlsResult => {
  const result = refusals.get(param);
  if (!result) throw new Error(`no sls run with --param=${param}`);
  return result;
};

// Every `sls` run of this file at once (tests/helpers/template.ts runs two at a time).
beforeAll(async () => {
  const packaging = Promise.all([
    packageTemplate('dev'),
    packageTemplate('dev', {
      stackRole: 'dr',
      adminPrincipalArn: `${ADMIN},${BREAK_GLASS}`,
      kmsKeyArn: DR_KEY,
      objectLockMode: 'COMPLIANCE',
      objectLockDays: '7',
    }),
    packageTemplate('dev', {
      sourceBuckets: 'a-bucket,b-bucket',
      keyLayout: 'bucket-prefixed',
      restoreTargets: 'restore-target',
      kmsKeyArn: DR_KEY,
      queueKmsKeyArn: QUEUE_KEY,
      sourceKmsKeyArns: SOURCE_KEY,
      alarmEmail: 'oncall@example.com',
      thawArchivedSources: 'true',
    }),
    packageTemplate('dev', {
      eventSource: 'eventbridge',
      sourceBuckets: 'a-bucket,b-bucket',
      keyLayout: 'bucket-prefixed',
      replicateMaxConcurrency: '5',
      drAccountId: DR_ACCOUNT,
    }),
    printConfig('local'),
    printConfig('local', { copyTags: 'false' }),
  ]);
  const refusing = Promise.all(
    REFUSED.map(async (param) => {
      const result = await runSls(['package', '--stage', 'dev', `--param=${param}`]);
      return [param, result] as const;
    }),
  );
  let refusedRuns: (readonly [string, SlsResult])[];
  [[dev, dr, two, eb, local, localWithoutTags], refusedRuns] = await Promise.all([packaging, refusing]);
  refusals = new Map(refusedRuns);
  // Thirteen runs, each bounded by SLS_TIMEOUT_MS, two at a time: a busy machine is slow, not wrong.
}, 7 * SLS_TIMEOUT_MS);

const props = (t: CfnTemplate, id: string) => effective(t, resource(t, id).Properties ?? {});
const fnProps = (t: CfnTemplate, fn: string) =>
  props(t, `${fn[0]?.toUpperCase()}${fn.slice(1)}LambdaFunction`);

describe('functions', () => {
  it('runs every function on nodejs22.x arm64 from its .cjs bundle with its own role', () => {
    for (const fn of ['ingest', 'replicate', 'verify', 'restore']) {
      const p = fnProps(dev, fn);
      expect(p).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: `functions/${fn}.handler`,
        FunctionName: `s3-dr-dev-${fn}`,
        Role: { 'Fn::GetAtt': [`${fn[0]?.toUpperCase()}${fn.slice(1)}IamRoleLambdaExecution`, 'Arn'] },
      });
    }
    expect(fnProps(dev, 'ingest')).toMatchObject({ MemorySize: 256, Timeout: 30 });
    expect(fnProps(dev, 'replicate')).toMatchObject({ MemorySize: 512, Timeout: 300 });
    expect(fnProps(dev, 'verify')).toMatchObject({ MemorySize: 1024, Timeout: 900 });
    expect(fnProps(dev, 'restore')).toMatchObject({ Timeout: 900 });
  });

  it('states the verifier’s V8 heap limits in NODE_OPTIONS, which Lambda’s Node.js runtime then keeps', () => {
    const nodeOptions = (fn: string) =>
      String(get(fnProps(dev, fn), 'Environment', 'Variables', 'NODE_OPTIONS')).split(' ');
    // The verifier runs in the job worker (verify jobs, lib/verify/job.ts).
    expect(nodeOptions('jobWorker')).toEqual([
      '--enable-source-maps',
      '--max-semi-space-size=16',
      '--max-old-space-size=512',
    ]);
    // Both are set: when NODE_OPTIONS names either, the runtime sets neither, and V8 would size the
    // other from the host.
    const oldSpaceMiB = Number(nodeOptions('jobWorker').at(-1)?.split('=')[1]);
    expect(oldSpaceMiB).toBeLessThanOrEqual(Number(get(fnProps(dev, 'jobWorker'), 'MemorySize')) / 2);
    for (const fn of ['ingest', 'replicate', 'restore', 'verify'])
      expect(nodeOptions(fn)).toEqual(['--enable-source-maps']);
  });

  it('gives every function an environment that lib/core/config.ts accepts', () => {
    // The queue URL and the DR bucket owner are a Fn::Sub on AWS (the account id is not known offline).
    const resolved: Record<string, string> = {
      S3DR_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
      S3DR_JOB_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs',
      S3DR_DR_BUCKET_OWNER: '123456789012',
    };
    for (const t of [dev, two, dr, eb]) {
      for (const [id] of resourcesOfType(t, 'AWS::Lambda::Function')) {
        if (id.startsWith('CustomDash')) continue;
        const vars = get(props(t, id), 'Environment', 'Variables') as Record<string, unknown>;
        const env: Record<string, string> = {};
        for (const [name, value] of Object.entries(vars)) {
          env[name] = typeof value === 'string' ? value : (resolved[name] ?? JSON.stringify(value));
        }
        expect(() => loadConfig(env)).not.toThrow();
      }
    }
    const vars = get(fnProps(two, 'replicate'), 'Environment', 'Variables');
    expect(vars).toMatchObject({
      S3DR_STACK_ROLE: 'primary',
      S3DR_SOURCE_BUCKETS: 'a-bucket,b-bucket',
      S3DR_DR_KMS_KEY_ID: DR_KEY,
      S3DR_RESTORE_TARGETS: 'restore-target',
      S3DR_QUEUE_URL: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders
        'Fn::Sub': 'https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/s3-dr-dev-replication',
      },
      POWERTOOLS_SERVICE_NAME: 's3-dr',
      POWERTOOLS_METRICS_NAMESPACE: 'S3DR',
    });
    // Unset parameters are left out, not passed as empty strings.
    expect(get(fnProps(dev, 'replicate'), 'Environment', 'Variables', 'S3DR_DR_KMS_KEY_ID')).toBeUndefined();
  });

  it('retries a failed ingest invocation twice, then sends the event to the DLQ', () => {
    expect(props(dev, 'IngestLambdaEvConf')).toEqual({
      FunctionName: { Ref: 'IngestLambdaFunction' },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: dlqArn } },
    });
  });

  // osls's Lambda client re-sends a silent synchronous Invoke after 120 s (node_modules/osls/lib/aws/
  // config.js); an async invoke (the verify schedule, `--type Event`) would be retried by Lambda twice.
  it('never retries verify or restore invocations asynchronously: a second run is never started for them', () => {
    for (const fn of ['Verify', 'Restore']) {
      expect(props(dev, `${fn}LambdaEvConf`)).toMatchObject({
        FunctionName: { Ref: `${fn}LambdaFunction` },
        MaximumRetryAttempts: 0,
      });
    }
    expect(props(dr, 'RestoreLambdaEvConf')).toMatchObject({ MaximumRetryAttempts: 0 });
  });

  // AWS Lambda Developer Guide, "Configuring maximum concurrency for Amazon SQS event sources"
  // (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html): the event source stops
  // taking batches at MaximumConcurrency (2-1000) instead of invoking into throttles, whose returned
  // messages count toward maxReceiveCount like failures.
  it('caps replicate with the event source’s maximum concurrency, never with reserved concurrency', () => {
    const mapping = (t: CfnTemplate) =>
      resourcesOfType(t, 'AWS::Lambda::EventSourceMapping')[0]?.[1].Properties;
    expect(mapping(eb)).toMatchObject({ ScalingConfig: { MaximumConcurrency: 5 } });
    expect(mapping(dev)).not.toHaveProperty('ScalingConfig');
    for (const t of [dev, eb, two]) {
      expect(fnProps(t, 'replicate')).not.toHaveProperty('ReservedConcurrentExecutions');
    }
  });

  it('refuses replicateReservedConcurrency, and a maximum concurrency below 2, naming the parameter', () => {
    const reserved = refused('replicateReservedConcurrency=10');
    expect(reserved.code).not.toBe(0);
    expect(reserved.stdout + reserved.stderr).toContain(
      'parameter "replicateReservedConcurrency" is no longer used',
    );
    const low = refused('replicateMaxConcurrency=1');
    expect(low.code).not.toBe(0);
    expect(low.stdout + low.stderr).toContain(
      'parameter "replicateMaxConcurrency" must be a whole number from 2 to 1000',
    );
  });

  it('names the DR bucket’s owner for ExpectedBucketOwner: this account, or drAccountId', () => {
    const owner = (t: CfnTemplate, fn: string) =>
      get(fnProps(t, fn), 'Environment', 'Variables', 'S3DR_DR_BUCKET_OWNER');
    for (const fn of ['ingest', 'replicate', 'verify', 'restore']) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
      expect(owner(dev, fn)).toEqual({ 'Fn::Sub': '${AWS::AccountId}' });
      expect(owner(eb, fn)).toBe(DR_ACCOUNT);
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
    expect(owner(dr, 'restore')).toEqual({ 'Fn::Sub': '${AWS::AccountId}' });
  });

  it('feeds replicate from the replication queue in batches with partial batch responses', () => {
    const mappings = resourcesOfType(dev, 'AWS::Lambda::EventSourceMapping').filter(
      ([id]) => !id.startsWith('JobWorker'),
    );
    expect(mappings).toHaveLength(1);
    expect(effective(dev, mappings[0]?.[1].Properties)).toMatchObject({
      EventSourceArn: queueArn,
      FunctionName: { 'Fn::GetAtt': ['ReplicateLambdaFunction', 'Arn'] },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('feeds the job worker one shard at a time from the job queue, at most jobMaxConcurrency at once, in both stacks', () => {
    for (const t of [dev, dr]) {
      const [mapping] = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping').filter(([id]) =>
        id.startsWith('JobWorker'),
      );
      // AWS Lambda API Reference, "ScalingConfig": MaximumConcurrency is 2 to 1000.
      expect(effective(t, mapping?.[1].Properties)).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': ['JobQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['JobWorkerLambdaFunction', 'Arn'] },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 10 },
      });
      // AWS Lambda Developer Guide, "Creating and configuring an Amazon SQS event source mapping": "set the
      // source queue's visibility timeout to at least six times the configuration timeout on your function".
      const timeout = Number(get(fnProps(t, 'jobWorker'), 'Timeout'));
      expect(props(t, 'JobQueue')).toMatchObject({
        VisibilityTimeout: 6 * timeout,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': ['JobDeadLetterQueue', 'Arn'] },
          maxReceiveCount: 5,
        },
      });
      expect(get(fnProps(t, 'jobWorker'), 'Environment', 'Variables', 'S3DR_JOB_MAX_RECEIVE_COUNT')).toBe(
        '5',
      );
    }
  });

  it('refuses a jobMaxConcurrency below 2, the least an SQS event source takes', () => {
    const result = refused('jobMaxConcurrency=1');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'parameter "jobMaxConcurrency" must be a whole number from 2 to 1000',
    );
  });

  it('runs verify on the schedule parameter', () => {
    const rules = resourcesOfType(dev, 'AWS::Events::Rule');
    expect(rules.map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        ScheduleExpression: 'rate(1 hour)',
        Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': ['VerifyLambdaFunction', 'Arn'] } })],
      }),
    ]);
  });
});

describe('S3 notifications', () => {
  const notifications = (t: CfnTemplate) =>
    resourcesOfType(t, 'Custom::S3').map(([, r]) => ({
      function: get(r.Properties, 'FunctionName'),
      bucket: get(r.Properties, 'BucketName'),
      events: (get(r.Properties, 'BucketConfigs') as { Event: string }[]).map((c) => c.Event).sort(),
    }));
  // Tag changes have their own event types, s3:ObjectTagging:Put/:Delete (User Guide, "Event notification
  // types and destinations"): subscribed when tags are replicated (copyTags, on by default).
  const allEvents = [
    's3:LifecycleExpiration:*',
    's3:ObjectCreated:*',
    's3:ObjectRemoved:*',
    's3:ObjectTagging:*',
  ];

  it('subscribes ingest to writes, deletes, lifecycle expirations and tag changes of the source bucket', () => {
    expect(notifications(dev)).toEqual([
      { function: 's3-dr-dev-ingest', bucket: 's3-dr-dev-source', events: allEvents },
    ]);
  });

  const ingestEvents = (config: Record<string, unknown>) =>
    (get(config, 'functions', 'ingest', 'events') as { s3: { event: string } }[])
      .map((e) => e.s3.event)
      .sort();

  it('subscribes the local stage to tag changes too: copyTags is on there, as in a deployment', () => {
    expect(ingestEvents(local)).toEqual(allEvents);
  });

  it('leaves tag changes unsubscribed when tags are not replicated (copyTags off)', () => {
    expect(ingestEvents(localWithoutTags)).toEqual([
      's3:LifecycleExpiration:*',
      's3:ObjectCreated:*',
      's3:ObjectRemoved:*',
    ]);
  });

  it('re-applies the notifications on every deploy, repairing a configuration someone overwrote', () => {
    for (const [, r] of resourcesOfType(two, 'Custom::S3')) {
      expect(get(r.Properties, 'ForceDeploy')).toEqual(expect.any(Number));
    }
  });

  it('subscribes ingest to every source bucket when there are several', () => {
    // `two` has thawArchivedSources on: every bucket also tells when a restored copy is readable.
    const thawed = [...allEvents, 's3:ObjectRestore:Completed'].sort();
    expect(notifications(two)).toEqual([
      { function: 's3-dr-dev-ingest', bucket: 'a-bucket', events: thawed },
      { function: 's3-dr-dev-ingest', bucket: 'b-bucket', events: thawed },
    ]);
  });

  it('subscribes to s3:ObjectRestore:Completed only with thawArchivedSources', () => {
    // S3 User Guide, "Event notification types and destinations": s3:ObjectRestore:Completed.
    const events = (t: CfnTemplate) => notifications(t).flatMap((n) => n.events);
    expect(events(dev)).not.toContain('s3:ObjectRestore:Completed');
    expect(get(fnProps(dev, 'replicate'), 'Environment', 'Variables', 'S3DR_THAW_ARCHIVED_SOURCES')).toBe(
      'false',
    );
    expect(get(fnProps(two, 'replicate'), 'Environment', 'Variables')).toMatchObject({
      S3DR_THAW_ARCHIVED_SOURCES: 'true',
      S3DR_THAW_DAYS: '1',
      S3DR_THAW_TIER: 'Bulk',
    });
  });

  it('refuses a thawArchivedSources that is not true or false, naming the parameter', () => {
    const result = refused('thawArchivedSources=yes');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('parameter "thawArchivedSources" must be true or false');
  });

  it('lets the notification handler edit exactly the source buckets, one bucket after the other', () => {
    expect(resource(two, 'IngestCustomS3Bucket2').DependsOn).toEqual(
      expect.arrayContaining([
        'IngestCustomS31',
        'IamRoleCustomResourcesLambdaExecution',
        'IngestLambdaFunction',
      ]),
    );
    expect(allPolicies(two).filter((p) => p.owner === 'IngestCustomS3ExtraBucketsPolicy')).toEqual([]);
  });

  // The framework grants its notification handler lambda:AddPermission/RemovePermission on `function:*`
  // of the account; the handler only ever permits S3 to invoke ingest.
  it('narrows the notification handler’s role to the source buckets and the ingest function', () => {
    for (const [t, buckets] of [
      [dev, ['s3-dr-dev-source']],
      [two, ['a-bucket', 'b-bucket']],
    ] as const) {
      const statements = allPolicies(t)
        .filter((p) => p.owner === 'IamRoleCustomResourcesLambdaExecution')
        .flatMap((p) => p.statements);
      expect(statements).toEqual([
        {
          Sid: 'ConfigureSourceBucketNotifications',
          Effect: 'Allow',
          Action: ['s3:PutBucketNotification', 's3:GetBucketNotification'],
          Resource: buckets.map(s3Arn),
        },
        {
          Sid: 'PermitS3ToInvokeIngest',
          Effect: 'Allow',
          Action: ['lambda:AddPermission', 'lambda:RemovePermission'],
          Resource: [
            {
              'Fn::Sub':
                // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders
                'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:s3-dr-dev-ingest',
            },
          ],
        },
      ]);
    }
  });

  it('refuses to package two source buckets with the flat key layout, naming the parameter', () => {
    const result = refused('sourceBuckets=a-bucket,b-bucket');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('parameter "keyLayout" is "flat"');
  });
});

describe('queues', () => {
  it('redrives a task to the DLQ after maxReceiveCount receives', () => {
    expect(props(dev, 'ReplicationQueue')).toMatchObject({
      QueueName: 's3-dr-dev-replication',
      RedrivePolicy: { deadLetterTargetArn: dlqArn, maxReceiveCount: 5 },
      MessageRetentionPeriod: 345600,
    });
  });

  it('hides a received task for at least six times the replicate timeout', () => {
    const visibility = Number(props(dev, 'ReplicationQueue').VisibilityTimeout);
    expect(visibility).toBeGreaterThanOrEqual(6 * Number(fnProps(dev, 'replicate').Timeout));
  });

  it('keeps DLQ messages for 14 days and takes redrives only from the replication queue', () => {
    expect(props(dev, 'DeadLetterQueue')).toMatchObject({
      QueueName: 's3-dr-dev-dlq',
      MessageRetentionPeriod: 1209600,
      RedriveAllowPolicy: { redrivePermission: 'byQueue' },
    });
  });

  it('encrypts both queues: SQS-managed keys by default, the given KMS key when set', () => {
    for (const id of ['ReplicationQueue', 'DeadLetterQueue']) {
      expect(props(dev, id)).toMatchObject({ SqsManagedSseEnabled: true });
      expect(props(dev, id)).not.toHaveProperty('KmsMasterKeyId');
      expect(props(two, id)).toMatchObject({ KmsMasterKeyId: QUEUE_KEY });
      expect(props(two, id)).not.toHaveProperty('SqsManagedSseEnabled');
    }
  });

  it('refuses plain-HTTP access to both queues', () => {
    expect(props(dev, 'QueuesTlsOnlyPolicy')).toMatchObject({
      Queues: [{ Ref: 'ReplicationQueue' }, { Ref: 'DeadLetterQueue' }],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: [queueArn, dlqArn],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    });
  });
});

describe('alarms', () => {
  const alarms = (t: CfnTemplate) => resourcesOfType(t, 'AWS::CloudWatch::Alarm');
  const lambdaAlarm = (fn: string, metric: string) => ({
    Namespace: 'AWS/Lambda',
    MetricName: metric,
    Dimensions: [{ Name: 'FunctionName', Value: `s3-dr-dev-${fn}` }],
    Statistic: 'Sum',
    Period: 300,
    EvaluationPeriods: 1,
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
  });
  const expected: Record<string, Record<string, unknown>> = {
    DlqNotEmptyAlarm: {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: 's3-dr-dev-dlq' }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    },
    ReplicationLagAlarm: {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: 's3-dr-dev-replication' }],
      Statistic: 'Maximum',
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    },
    IngestErrorsAlarm: lambdaAlarm('ingest', 'Errors'),
    IngestThrottlesAlarm: lambdaAlarm('ingest', 'Throttles'),
    ReplicateErrorsAlarm: lambdaAlarm('replicate', 'Errors'),
    ReplicateThrottlesAlarm: lambdaAlarm('replicate', 'Throttles'),
    VerifyErrorsAlarm: lambdaAlarm('verify', 'Errors'),
    VerifyThrottlesAlarm: lambdaAlarm('verify', 'Throttles'),
    VerifyDriftAlarm: {
      Metrics: [
        {
          Id: 'missing',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'S3DR',
              MetricName: 'VerifyMissing',
              Dimensions: [{ Name: 'service', Value: 's3-dr' }],
            },
            Period: 3600,
            Stat: 'Sum',
          },
        },
        {
          Id: 'mismatched',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'S3DR',
              MetricName: 'VerifyMismatched',
              Dimensions: [{ Name: 'service', Value: 's3-dr' }],
            },
            Period: 3600,
            Stat: 'Sum',
          },
        },
        expect.objectContaining({
          Id: 'drift',
          Expression: 'FILL(missing, 0) + FILL(mismatched, 0)',
          ReturnData: true,
        }),
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    },
    VerifySilentAlarm: {
      Namespace: 'S3DR',
      MetricName: 'VerifyPassComplete',
      Dimensions: [{ Name: 'service', Value: 's3-dr' }],
      Statistic: 'Sum',
      Period: 3 * 3600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    },
    JobStalledAlarm: {
      EvaluationPeriods: 3,
      Threshold: 0.4,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    },
    JobDlqNotEmptyAlarm: {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: 's3-dr-dev-primary-jobs-dlq' }],
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };

  it('has exactly the documented alarms', () => {
    expect(
      alarms(dev)
        .map(([id]) => id)
        .sort(),
    ).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s watches the right metric and threshold', (id, want) => {
    expect(props(dev, id)).toMatchObject(want);
  });

  it('notifies the alarm topic on alarm and on recovery', () => {
    for (const [id] of alarms(dev)) {
      expect(props(dev, id)).toMatchObject({ AlarmActions: topic, OKActions: topic });
    }
  });

  it('says in every description what to run first and where the runbook is', () => {
    for (const [id] of alarms(dev)) {
      const description = JSON.stringify(props(dev, id).AlarmDescription);
      expect(description).toContain('First: ');
      expect(description.length).toBeLessThan(1024);
    }
  });

  it('links every alarm of both stacks to its runbook, a file in runbooks/ of this repository', () => {
    const linked = new Set<string>();
    for (const t of [dev, dr]) {
      for (const [id] of alarms(t)) {
        const description = JSON.stringify(props(t, id).AlarmDescription);
        // runbooksUrl defaults to the repository's runbooks/ folder, so the link is a path here.
        const file = /Runbook: (runbooks\/[a-z-]+\.md)\b/.exec(description)?.[1];
        expect({ id, file }).toEqual({ id, file: expect.stringMatching(/^runbooks\/[a-z-]+\.md$/) });
        expect({ id, exists: existsSync(join(root, String(file))) }).toEqual({ id, exists: true });
        linked.add(String(file));
      }
    }
    // One runbook per kind of alarm (the functions' Errors and Throttles alarms share theirs).
    expect([...linked].sort()).toEqual([
      'runbooks/dlq-not-empty.md',
      'runbooks/function-errors.md',
      'runbooks/function-throttles.md',
      'runbooks/job-dlq-not-empty.md',
      'runbooks/job-stalled.md',
      'runbooks/replication-lag.md',
      'runbooks/verify-drift.md',
      'runbooks/verify-silent.md',
    ]);
  });

  it('subscribes the alarm email only when one is configured', () => {
    expect(createdResources(dev)).not.toContain('AlarmEmailSubscription');
    expect(createdResources(two)).toContain('AlarmEmailSubscription');
    expect(props(two, 'AlarmEmailSubscription')).toMatchObject({
      TopicArn: { Ref: 'AlarmTopic' },
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });
});

describe('dashboard', () => {
  const body = () => String(get(props(dev, 'Dashboard'), 'DashboardBody', 'Fn::Sub'));

  it('charts events, outcomes, bytes, lag percentiles, queue depths, verifier counts and Lambda errors', () => {
    const widgets = get(JSON.parse(body()), 'widgets') as unknown[];
    const metrics = widgets.flatMap(
      (w) => (get(w, 'properties', 'metrics') as unknown[][] | undefined) ?? [],
    );
    const shown = metrics.map((m) => `${m[0]}/${m[1]}@${get(m.at(-1), 'stat')}`);
    for (const name of [
      'S3DR/EventsIngested@Sum',
      'S3DR/ObjectsCopied@Sum',
      'S3DR/ObjectsDeleted@Sum',
      'S3DR/ObjectsSkipped@Sum',
      'S3DR/BytesCopied@Sum',
      'S3DR/ReplicationLagMs@p50',
      'S3DR/ReplicationLagMs@p99',
      'S3DR/VerifyMissing@Sum',
      'S3DR/VerifyMismatched@Sum',
      'S3DR/VerifyOrphaned@Sum',
      'S3DR/VerifyObjectsChecked@Sum',
      'S3DR/ObjectsUnreplicable@Sum',
      'S3DR/ObjectsThawing@Sum',
      'S3DR/VerifyUnreplicable@Maximum',
      'AWS/SQS/ApproximateNumberOfMessagesVisible@Maximum',
      'AWS/Lambda/Errors@Sum',
    ]) {
      expect(shown).toContain(name);
    }
    const queues = metrics.filter((m) => m[0] === 'AWS/SQS').map((m) => m[3]);
    expect(queues).toEqual(expect.arrayContaining(['s3-dr-dev-replication', 's3-dr-dev-dlq']));
  });

  it('charts restore job progress and the job queues', () => {
    const widgets = get(JSON.parse(body()), 'widgets') as unknown[];
    const jobs = widgets.find((w) => get(w, 'properties', 'title') === 'Restore jobs');
    const metrics = (get(jobs, 'properties', 'metrics') as unknown[][]).map((m) => `${m[0]}/${m[1]}/${m[3]}`);
    expect(metrics).toEqual([
      'S3DR/JobObjectsExamined/s3-dr',
      'AWS/SQS/ApproximateNumberOfMessagesVisible/s3-dr-dev-primary-jobs',
      'AWS/SQS/ApproximateNumberOfMessagesNotVisible/s3-dr-dev-primary-jobs',
      'AWS/SQS/ApproximateNumberOfMessagesVisible/s3-dr-dev-primary-jobs-dlq',
    ]);
  });

  it('raises "job stalled" only while job work waits and no shard makes progress', () => {
    const alarm = props(dev, 'JobStalledAlarm');
    expect(alarm).toMatchObject({
      Threshold: 0.4,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
    });
    const metrics = get(alarm, 'Metrics') as { Id: string; Expression?: string }[];
    const expression = metrics.find((m) => m.Id === 'stalled')?.Expression ?? '';
    // The expression, evaluated as CloudWatch would for one period (FILL(x, 0) = x, or 0 without data).
    const value = (waiting: number, examined: number) =>
      Function(
        'waiting',
        'examined',
        `const FILL = (x, d) => x ?? d; return ${expression};`,
      )(waiting, examined);
    const alarms = (waiting: number, examined: number) => value(waiting, examined) > 0.4;
    expect(alarms(0, 0)).toBe(false); // no job
    expect(alarms(1, 0)).toBe(true); // one shard waits, nothing done
    expect(alarms(5000, 0)).toBe(true);
    expect(alarms(5000, 1)).toBe(false); // progress, however little
    expect(alarms(0, 1000)).toBe(false);
  });

  it('shows the state of every alarm, by references CloudFormation resolves', () => {
    const refs = [...body().matchAll(/\$\{(\w+)\.Arn\}/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(
      resourcesOfType(dev, 'AWS::CloudWatch::Alarm')
        .map(([id]) => id)
        .sort(),
    );
  });
});

describe('stack roles', () => {
  it('creates the pipeline in the primary stack and no DR bucket there', () => {
    const created = createdResources(dev);
    expect(created).toEqual(
      expect.arrayContaining(['ReplicationQueue', 'DeadLetterQueue', 'AlarmTopic', 'Dashboard']),
    );
    expect(created).not.toContain('DrBucket');
    expect(condition(dev, 'IsPrimary')).toBe(true);
  });

  it('creates only restore and the hardened DR bucket in the dr stack', () => {
    const functions = resourcesOfType(dr, 'AWS::Lambda::Function').map(([id]) => id);
    // The job worker runs restore jobs: the dr stack's restore works with the source region down.
    expect(functions.sort()).toEqual(['JobWorkerLambdaFunction', 'RestoreLambdaFunction']);
    const created = createdResources(dr);
    expect(created).toEqual(expect.arrayContaining(['DrBucket', 'DrBucketPolicy', 'RestoreLambdaFunction']));
    for (const id of ['ReplicationQueue', 'DeadLetterQueue', 'AlarmTopic', 'Dashboard', 'DlqNotEmptyAlarm']) {
      expect(created).not.toContain(id);
    }
    expect(get(fnProps(dr, 'restore'), 'Environment', 'Variables')).toMatchObject({ S3DR_STACK_ROLE: 'dr' });
    expect(get(fnProps(dr, 'restore'), 'Environment', 'Variables', 'S3DR_QUEUE_URL')).toBeUndefined();
  });

  it('refuses a dr stack that would create the DR bucket without an admin principal', () => {
    const result = refused('stackRole=dr');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('parameter "adminPrincipalArn" must be set');
  });

  it('creates no role that no function uses (the framework shared role)', () => {
    for (const t of [dev, dr, two]) {
      expect(createdResources(t)).not.toContain('IamRoleLambdaExecution');
      const others = Object.entries(t.Resources).filter(([id]) => id !== 'IamRoleLambdaExecution');
      expect(referencedIds(others.map(([, r]) => r))).not.toContain('IamRoleLambdaExecution');
    }
  });
});

describe('stack outputs the end-to-end suite reads (tests/e2e/stack-outputs.ts)', () => {
  /** The outputs CloudFormation would create, as DescribeStacks returns them: strings, Refs resolved. */
  const describedOutputs = (t: CfnTemplate): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [key, output] of Object.entries(t.Outputs ?? {})) {
      const when = get(output, 'Condition');
      if (when !== undefined && !condition(t, String(when))) continue;
      const value = get(output, 'Value');
      const ref = get(value, 'Ref');
      if (typeof ref === 'string') {
        // The Ref of a Lambda function or a bucket is its name (CloudFormation, return values of
        // AWS::Lambda::Function and AWS::S3::Bucket).
        const props = resource(t, ref).Properties;
        const name = get(props, 'FunctionName') ?? get(props, 'BucketName');
        if (typeof name === 'string') out[key] = name;
      } else if (typeof value === 'string' || typeof value === 'number') out[key] = String(value);
    }
    return out;
  };

  it('gives the primary stack every output the suite needs, as the suite parses them', () => {
    const out = describedOutputs(dev);
    expect(Object.keys(out)).toEqual(expect.arrayContaining(PRIMARY_OUTPUT_KEYS));
    expect(primaryOutputsSchema.parse(out)).toEqual({
      SourceBuckets: ['s3-dr-dev-source'],
      DrBucket: 's3-dr-dev-dr',
      DrRegion: 'eu-central-1',
      DeletePolicy: 'mirror',
      KeyLayout: 'flat',
      MultipartThreshold: 5 * 1024 ** 3,
      VerifyFunctionName: 's3-dr-dev-verify',
      RestoreFunctionName: 's3-dr-dev-restore',
    });
    expect(primaryOutputsSchema.parse(describedOutputs(two))).toMatchObject({
      SourceBuckets: ['a-bucket', 'b-bucket'],
      KeyLayout: 'bucket-prefixed',
    });
  });

  it('refers in its outputs only to resources each stack has (CloudFormation rejects the template otherwise)', () => {
    for (const t of [dev, dr, two]) {
      const refs = [...referencedIds(t.Outputs)].filter((id) => !id.startsWith('AWS::'));
      expect(refs.filter((id) => !(id in t.Resources))).toEqual([]);
    }
  });

  it('gives the dr stack the name of the bucket it created and of its restore, and no primary outputs', () => {
    const out = describedOutputs(dr);
    expect(out).toMatchObject({ DrBucketName: 's3-dr-dev-dr', RestoreFunctionName: 's3-dr-dev-restore' });
    expect(primaryOutputsSchema.safeParse(out).success).toBe(false);
  });
});

describe('DR bucket', () => {
  const bucket = () => props(dr, 'DrBucket');

  it('is kept when the stack is deleted or the bucket replaced', () => {
    expect(resource(dr, 'DrBucket')).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  // Deleting the dr stack, or an update that replaces the policy, must not strip the retained backup of
  // its protections (docs/deploy.md says how to redeploy over the retained bucket and policy).
  it('keeps its bucket policy too when the stack is deleted or the policy replaced', () => {
    expect(resource(dr, 'DrBucketPolicy')).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('is versioned, private, owner-enforced and encrypted with the configured KMS key', () => {
    expect(bucket()).toMatchObject({
      BucketName: 's3-dr-dev-dr',
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: DR_KEY },
            BucketKeyEnabled: true,
          },
        ],
      },
    });
  });

  it('uses SSE-S3 when no KMS key is configured', () => {
    expect(get(props(dev, 'DrBucket'), 'BucketEncryption')).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });

  it('expires noncurrent versions after the retention and aborts stale multipart uploads', () => {
    expect(get(bucket(), 'LifecycleConfiguration', 'Rules')).toEqual([
      {
        Id: 'expire-noncurrent-versions',
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        ExpiredObjectDeleteMarker: true,
      },
      {
        Id: 'abort-incomplete-multipart-uploads',
        Status: 'Enabled',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
      },
    ]);
  });

  it('locks every version by default when an Object Lock mode is set, and not otherwise', () => {
    expect(bucket()).toMatchObject({
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE' } },
      },
    });
    // A --param value is a string; CloudFormation takes "7" for an integer property.
    expect(Number(get(bucket(), 'ObjectLockConfiguration', 'Rule', 'DefaultRetention', 'Days'))).toBe(7);
    expect(props(dev, 'DrBucket')).not.toHaveProperty('ObjectLockEnabled');
    expect(props(dev, 'DrBucket')).not.toHaveProperty('ObjectLockConfiguration');
  });

  it('refuses plain HTTP, and lets only the admin principals delete versions or lift protections', () => {
    const statements = get(props(dr, 'DrBucketPolicy'), 'PolicyDocument', 'Statement') as PolicyStatement[];
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders
    const drArn = 'arn:${AWS::Partition}:s3:::s3-dr-dev-dr';
    const resources = [{ 'Fn::Sub': drArn }, { 'Fn::Sub': `${drArn}/*` }];
    expect(statements).toEqual([
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: resources,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'DenyVersionDeletionAndProtectionChangesExceptAdmin',
        Effect: 'Deny',
        Principal: '*',
        Action: expect.arrayContaining([
          's3:DeleteObjectVersion',
          's3:PutLifecycleConfiguration',
          's3:PutBucketVersioning',
          's3:PutBucketPolicy',
          's3:DeleteBucketPolicy',
        ]),
        Resource: resources,
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [ADMIN, BREAK_GLASS] } },
      },
    ]);
  });
});

describe('IAM', () => {
  const s3 = s3Arn;
  const objects = (b: string) => objectsArn(b);
  /** Sid → [actions, resources] of the statements s3-dr adds to a function's role. */
  const grants = (t: CfnTemplate, fn: string) => {
    const out: Record<string, [string[], unknown[]]> = {};
    for (const [sid, s] of roleStatements(t, fn)) {
      if (sid.startsWith('#')) continue; // the plugin's log and event-source statements
      out[sid] = [asList(s.Action).sort(), asList(s.Resource)];
    }
    return out;
  };
  const sourceRead = ['s3:GetObject', 's3:GetObjectAttributes', 's3:GetObjectTagging'];

  it('lets ingest send to the replication queue and, for failed events, to the DLQ', () => {
    expect(grants(dev, 'ingest')).toEqual({
      EnqueueReplicationTasks: [['sqs:SendMessage'], [queueArn]],
      SendAsyncFailuresToDeadLetterQueue: [['sqs:SendMessage'], [dlqArn]],
    });
  });

  it('lets replicate consume the queue, read the sources and write DR objects', () => {
    expect(grants(dev, 'replicate')).toEqual({
      ConsumeReplicationQueue: [
        ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        [queueArn],
      ],
      ListSourceBuckets: [['s3:ListBucket'], [s3('s3-dr-dev-source')]],
      ReadSourceObjects: [sourceRead, [objects('s3-dr-dev-source')]],
      ListDrBucket: [['s3:ListBucket', 's3:ListBucketMultipartUploads'], [s3('s3-dr-dev-dr')]],
      WriteDrObjects: [
        [
          's3:AbortMultipartUpload',
          's3:DeleteObject',
          's3:DeleteObjectTagging',
          's3:DeleteObjectVersionTagging',
          's3:GetObject',
          's3:GetObjectAttributes',
          's3:GetObjectTagging',
          's3:GetObjectVersionTagging',
          's3:ListMultipartUploadParts',
          's3:PutObject',
          's3:PutObjectTagging',
          's3:PutObjectVersionTagging',
        ],
        [objects('s3-dr-dev-dr')],
      ],
    });
  });

  it('lets the job worker read DR versions and write only to the sources and allowed targets, run verify passes, and restore and verify only start jobs', () => {
    const targetWrite = [
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:GetObjectAttributes',
      's3:ListMultipartUploadParts',
      's3:PutObject',
      's3:PutObjectTagging',
    ];
    const drRead = [
      's3:GetObject',
      's3:GetObjectAttributes',
      's3:GetObjectTagging',
      's3:GetObjectVersion',
      's3:GetObjectVersionAttributes',
      's3:GetObjectVersionTagging',
      's3:RestoreObject',
    ];
    const jobState = {
      KeepJobState: [['s3:GetObject', 's3:PutObject'], [objectsArn('s3-dr-dev-dr', '.s3dr/jobs/')]],
      QueueJobWork: [['sqs:SendMessage'], [{ 'Fn::GetAtt': ['JobQueue', 'Arn'] }]],
    };
    // The job worker runs the shards: it reads DR versions and writes the targets, and consumes the job queue.
    expect(grants(dev, 'jobWorker')).toEqual({
      ConsumeJobQueue: [
        ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        [{ 'Fn::GetAtt': ['JobQueue', 'Arn'] }],
      ],
      ListDrBucketVersions: [
        ['s3:GetBucketVersioning', 's3:ListBucket', 's3:ListBucketVersions'],
        [s3('s3-dr-dev-dr')],
      ],
      ReadDrObjectVersions: [drRead, [objects('s3-dr-dev-dr')]],
      ListRestoreTargets: [['s3:ListBucket', 's3:ListBucketMultipartUploads'], [s3('s3-dr-dev-source')]],
      WriteRestoreTargets: [targetWrite, [objects('s3-dr-dev-source')]],
      ...jobState,
      // Verify runs (verify jobs): list and head both sides, read their tags (deep mode), write only
      // under .s3dr/, hold the run lease, prune the ledger, queue repairs.
      ListSourceAndDrBuckets: [['s3:ListBucket'], [s3('s3-dr-dev-source'), s3('s3-dr-dev-dr')]],
      HeadSourceAndDrObjects: [
        ['s3:GetObject', 's3:GetObjectAttributes'],
        [objects('s3-dr-dev-source'), objects('s3-dr-dev-dr')],
      ],
      ReadSourceAndDrTags: [['s3:GetObjectTagging'], [objects('s3-dr-dev-source'), objects('s3-dr-dev-dr')]],
      WriteVerifierState: [['s3:GetObject', 's3:PutObject'], [objectsArn('s3-dr-dev-dr', '.s3dr/')]],
      HoldVerifyRunLease: [
        ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        [objectsArn('s3-dr-dev-dr', '.s3dr/leases/verify/')],
      ],
      PruneVerifierLedger: [['s3:DeleteObject'], [objectsArn('s3-dr-dev-dr', '.s3dr/verify/')]],
      EnqueueRepairTasks: [['sqs:SendMessage'], [queueArn]],
    });
    // The dr stack runs restore jobs only: it has no verify and no replication queue.
    expect(Object.keys(grants(dr, 'jobWorker'))).toContain('WriteRestoreTargets');
    expect(Object.keys(grants(dr, 'jobWorker'))).not.toContain('EnqueueRepairTasks');
    expect(Object.keys(grants(dr, 'jobWorker'))).not.toContain('ListSourceAndDrBuckets');
    // Verify only starts, answers and cancels jobs: it reads and writes nothing but the job's state.
    expect(grants(dev, 'verify')).toEqual({
      ListDrBucket: [['s3:ListBucket'], [s3('s3-dr-dev-dr')]],
      ...jobState,
    });
    // Restore only starts, answers and cancels jobs: it reads no object and writes none but the job's state.
    expect(grants(dev, 'restore')).toEqual({
      ListDrBucket: [['s3:GetBucketVersioning', 's3:ListBucket'], [s3('s3-dr-dev-dr')]],
      ListRestoreTargets: [['s3:ListBucket'], [s3('s3-dr-dev-source')]],
      ...jobState,
    });
    expect(grants(two, 'jobWorker')).toMatchObject({
      ListRestoreTargets: [expect.any(Array), [s3('a-bucket'), s3('b-bucket'), s3('restore-target')]],
      WriteRestoreTargets: [
        targetWrite,
        [objects('a-bucket'), objects('b-bucket'), objects('restore-target')],
      ],
    });
  });

  it('lets replicate restore source objects only with thawArchivedSources', () => {
    // The dev stack (thawing off) has no such grant: the exact-grants test above lists every statement.
    expect(JSON.stringify(grants(dev, 'replicate'))).not.toContain('s3:RestoreObject');
    expect(grants(two, 'replicate')).toMatchObject({
      ThawArchivedSourceObjects: [['s3:RestoreObject'], [objects('a-bucket'), objects('b-bucket')]],
    });
  });

  it('expands bucket statements to every source bucket', () => {
    expect(grants(two, 'replicate')).toMatchObject({
      ListSourceBuckets: [['s3:ListBucket'], [s3('a-bucket'), s3('b-bucket')]],
      ReadSourceObjects: [sourceRead, [objects('a-bucket'), objects('b-bucket')]],
    });
    expect(grants(two, 'jobWorker')).toMatchObject({
      ListSourceAndDrBuckets: [['s3:ListBucket'], [s3('a-bucket'), s3('b-bucket'), s3('s3-dr-dev-dr')]],
    });
  });

  it('grants KMS use only on configured keys, and none without keys', () => {
    for (const fn of ['ingest', 'replicate', 'verify', 'restore']) {
      const actions = [...roleStatements(dev, fn).values()].flatMap((s) => asList(s.Action));
      expect(actions.filter((a) => a.startsWith('kms:'))).toEqual([]);
    }
    expect(grants(two, 'replicate')).toMatchObject({
      UseDrBucketKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [DR_KEY]],
      UseSourceBucketKeys: [['kms:Decrypt'], [SOURCE_KEY]],
      UseQueueKey: [['kms:Decrypt'], [QUEUE_KEY]],
    });
    expect(grants(two, 'ingest')).toMatchObject({
      UseQueueKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [QUEUE_KEY]],
    });
    // Verify writes the job's state into the SSE-KMS DR bucket and queues its first run; it reads no source.
    expect(grants(two, 'verify')).toMatchObject({
      UseDrBucketKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [DR_KEY]],
      UseQueueKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [QUEUE_KEY]],
    });
    expect(grants(two, 'verify')).not.toHaveProperty('UseSourceBucketKeys');
    // Restore's shards and verify's runs (deep mode GETs source objects where no checksum decides).
    expect(grants(two, 'jobWorker')).toMatchObject({
      UseDrBucketKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [DR_KEY]],
      UseSourceBucketKeys: [['kms:Decrypt', 'kms:GenerateDataKey'], [SOURCE_KEY]],
      UseQueueKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [QUEUE_KEY]],
    });
    // GenerateDataKey: the job's state is written into the SSE-KMS DR bucket; restore reads no source object.
    expect(grants(two, 'restore')).toMatchObject({
      UseDrBucketKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [DR_KEY]],
      UseQueueKey: [['kms:Decrypt', 'kms:GenerateDataKey'], [QUEUE_KEY]],
    });
    expect(grants(two, 'restore')).not.toHaveProperty('UseSourceBucketKeys');
  });

  it('grants no wildcard action, and no Resource "*" for S3 or SQS, in any policy of any stack', () => {
    for (const t of [dev, dr, two, eb]) {
      const policies = allPolicies(t);
      expect(policies.length).toBeGreaterThan(2);
      const violations = policies.flatMap((policy) =>
        policy.statements
          .filter((s) => {
            const actions = asList(s.Action);
            // A Deny may be broad on purpose (e.g. refusing every S3 action over plain HTTP).
            const wildcardAction = s.Effect === 'Allow' && actions.some((a) => a.includes('*'));
            const starResource =
              actions.some((a) => /^(s3|sqs):/.test(a)) && asList(s.Resource).some((r) => r === '*');
            return wildcardAction || starResource;
          })
          .map((s) => `${policy.owner}: ${JSON.stringify(s)}`),
      );
      expect(violations).toEqual([]);
    }
  });
});

describe('local stage (sls print, offline)', () => {
  it('resolves every function environment to literal strings pointing at the emulator', () => {
    const providerEnv = get(local, 'provider', 'environment') as Record<string, unknown>;
    expect(providerEnv).toMatchObject({
      S3DR_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/s3-dr-local-replication',
      S3DR_ENDPOINT_URL: 'http://127.0.0.1:4566',
      S3DR_FORCE_PATH_STYLE: 'true',
      S3DR_SOURCE_BUCKETS: 'source-bucket',
      S3DR_DR_BUCKET: 'dr-bucket',
    });
    const set = Object.entries(providerEnv).filter(([, v]) => v !== null);
    expect(set.filter(([, v]) => typeof v !== 'string')).toEqual([]);
    expect(() => loadConfig(Object.fromEntries(set) as Record<string, string>)).not.toThrow();
  });

  it('exposes the queue, DLQ and event-source settings as numbers', () => {
    expect(get(local, 'resources', 'Resources', 'ReplicationQueue', 'Properties')).toMatchObject({
      QueueName: 's3-dr-local-replication',
      VisibilityTimeout: 1800,
      MessageRetentionPeriod: 345600,
      RedrivePolicy: { maxReceiveCount: 5 },
    });
    expect(get(local, 'resources', 'Resources', 'DeadLetterQueue', 'Properties')).toMatchObject({
      QueueName: 's3-dr-local-dlq',
      MessageRetentionPeriod: 1209600,
    });
    expect(get(local, 'functions', 'replicate', 'events', 0, 'sqs')).toMatchObject({
      batchSize: 10,
      maximumBatchingWindow: 0,
      functionResponseType: 'ReportBatchItemFailures',
    });
  });
});

describe('partitions (aws-cn, aws-us-gov)', () => {
  /** Every string in a value, with the path to it. */
  const strings = (value: unknown, path = ''): [string, string][] => {
    if (typeof value === 'string') return [[path, value]];
    if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
    if (value && typeof value === 'object') {
      return Object.entries(value).flatMap(([k, v]) => strings(v, `${path}.${k}`));
    }
    return [];
  };
  /** ARNs the stage parameters of these templates gave: the user's to choose, in their partition. */
  const given = [ADMIN, BREAK_GLASS, DR_KEY, QUEUE_KEY, SOURCE_KEY];

  it('writes no arn:aws: literal in any packaged template: every ARN it builds names AWS::Partition', () => {
    for (const [name, t] of Object.entries({ dev, dr, two, eb })) {
      const literals = strings(t)
        .filter(([, v]) => v.includes('arn:aws:') && !given.includes(v))
        .map(([path, v]) => `${name}${path}: ${v}`);
      expect(literals).toEqual([]);
    }
  });
});

describe('eventSource: eventbridge', () => {
  const require = createRequire(import.meta.url);
  const events = require('../../scripts/deploy-resolver/index.cjs') as {
    S3_EVENT_TYPES: string[];
    EVENTBRIDGE_DETAIL_TYPES: Record<string, string[]>;
  };
  const rule = () => props(eb, 'IngestEventBridgeRule');

  it('writes no bucket notifications and creates no notification handler or its role', () => {
    expect(resourcesOfType(eb, 'Custom::S3')).toEqual([]);
    expect(Object.keys(eb.Resources).filter((id) => /CustomResources|CustomDash/.test(id))).toEqual([]);
  });

  // S3 User Guide, "Using EventBridge" and "EventBridge event message structure"
  // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): events have source aws.s3,
  // detail-type "Object Created", "Object Deleted" (deletes and lifecycle expirations), "Object Tags
  // Added", "Object Tags Deleted", "Object Restore Completed", …, and detail.bucket.name.
  it('routes the source buckets’ object events from the default bus to ingest', () => {
    expect(rule()).toMatchObject({
      State: 'ENABLED',
      EventPattern: {
        source: ['aws.s3'],
        // copyTags is on by default, so tag changes are routed too.
        'detail-type': ['Object Created', 'Object Deleted', 'Object Tags Added', 'Object Tags Deleted'],
        detail: { bucket: { name: ['a-bucket', 'b-bucket'] } },
      },
      Targets: [
        {
          Id: 'ingest',
          Arn: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
          DeadLetterConfig: { Arn: dlqArn },
        },
      ],
    });
    expect(rule()).not.toHaveProperty('EventBusName');
    expect(props(eb, 'IngestEventBridgePermission')).toEqual({
      FunctionName: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': ['IngestEventBridgeRule', 'Arn'] },
    });
  });

  it('subscribes both modes to the same events, from one list (a new type reaches both or fails packaging)', () => {
    const notified = resourcesOfType(two, 'Custom::S3').flatMap(([, r]) =>
      (get(r.Properties, 'BucketConfigs') as { Event: string }[]).map((c) => c.Event),
    );
    // `two` replicates tags and thaws archived sources; `eb` replicates tags (the default) only.
    const optional = ['s3:ObjectTagging:*', 's3:ObjectRestore:Completed'];
    expect([...new Set(notified)].sort()).toEqual([...events.S3_EVENT_TYPES, ...optional].sort());
    const routed = get(rule(), 'EventPattern', 'detail-type') as string[];
    expect(routed).toEqual([
      ...new Set(
        [...events.S3_EVENT_TYPES, 's3:ObjectTagging:*'].flatMap(
          (type) => events.EVENTBRIDGE_DETAIL_TYPES[type] ?? ['missing'],
        ),
      ),
    ]);
    expect(events.EVENTBRIDGE_DETAIL_TYPES).toMatchObject({
      's3:ObjectTagging:*': ['Object Tags Added', 'Object Tags Deleted'],
      's3:ObjectRestore:Completed': ['Object Restore Completed'],
    });
  });

  it('lets EventBridge dead-letter undeliverable events from this rule only, and only in this mode', () => {
    const statements = (t: CfnTemplate) =>
      get(props(t, 'QueuesTlsOnlyPolicy'), 'PolicyDocument', 'Statement') as PolicyStatement[];
    expect(statements(eb)).toContainEqual({
      Sid: 'AcceptUndeliverableS3EventsFromTheRule',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: dlqArn,
      Condition: {
        ArnEquals: {
          'aws:SourceArn': {
            'Fn::Sub':
              // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders
              'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/s3-dr-dev-s3-events',
          },
        },
      },
    });
    expect(statements(dev).map((x) => x.Sid)).toEqual(['DenyInsecureTransport']);
    expect(get(rule(), 'Name')).toBe('s3-dr-dev-s3-events');
  });

  it('creates no rule and keeps the notifications in the default mode', () => {
    expect(Object.keys(dev.Resources)).not.toContain('IngestEventBridgeRule');
    expect(resourcesOfType(dev, 'Custom::S3')).toHaveLength(1);
    expect(condition(dev, 'UsesEventBridge')).toBe(false);
    expect(condition(eb, 'UsesEventBridge')).toBe(true);
  });

  it('refuses an unknown eventSource, naming the parameter', () => {
    const result = refused('eventSource=sns');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'parameter "eventSource" must be "notifications" or "eventbridge"',
    );
  });
});
