/**
 * The end-to-end suite's aws target cannot run here (no AWS account): its logic — finding a stage from
 * its stack outputs, the refusal rule, the cleanup of every version — runs against
 * aws-sdk-client-mock answering as CloudFormation, S3 and Lambda document they answer.
 */
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type Output,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { type AwsClients, invokeFunction, openAwsTarget } from '../e2e/aws-target.ts';
import { cleanupRun, cleanupStored, describeCleanup } from '../e2e/cleanup.ts';
import { e2eEnvFromArgs } from '../e2e/cli-args.ts';
import { CleanupError, E2eRefusedError, FunctionFailedError, StageDiscoveryError } from '../e2e/errors.ts';
import { assertOnlyTestData } from '../e2e/safety.ts';
import { discoverStage, PRIMARY_OUTPUT_KEYS } from '../e2e/stack-outputs.ts';
import { type E2eTarget, e2eOptionsFromEnv, multipartPartSizes } from '../e2e/target.ts';

const MiB = 1024 * 1024;
const SOURCE_REGION = 'eu-west-1';
const DR_REGION = 'eu-central-1';

// One client per region, each with its own mock, so a test can tell the primary stack's answers from
// the dr stack's.
const cfnPrimary = new CloudFormationClient({ region: SOURCE_REGION });
const cfnDr = new CloudFormationClient({ region: DR_REGION });
const sourceS3 = new S3Client({ region: SOURCE_REGION });
const drS3 = new S3Client({ region: DR_REGION });
const lambdaClient = new LambdaClient({ region: SOURCE_REGION });
const cfnPrimaryMock = mockClient(cfnPrimary);
const cfnDrMock = mockClient(cfnDr);
const sourceMock = mockClient(sourceS3);
const drMock = mockClient(drS3);
const lambdaMock = mockClient(lambdaClient);

const clients: AwsClients = {
  cloudFormation: (region) => (region === SOURCE_REGION ? cfnPrimary : cfnDr),
  s3: (region) => (region === SOURCE_REGION ? sourceS3 : drS3),
  lambda: () => lambdaClient,
  destroy: () => undefined,
};

const outputs = (values: Record<string, string>): Output[] =>
  Object.entries(values).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));

const primaryOutputs: Record<string, string> = {
  SourceBuckets: 'e2e-source,e2e-other',
  DrBucket: 'e2e-dr',
  DrRegion: DR_REGION,
  DeletePolicy: 'mirror',
  KeyLayout: 'flat',
  // CloudFormation returns every output as a string (DescribeStacks, Output.OutputValue).
  MultipartThreshold: String(16 * MiB),
  VerifyFunctionName: 's3-dr-e2e-verify',
  RestoreFunctionName: 's3-dr-e2e-restore',
  ReplicationQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/s3-dr-e2e-replication',
};

const stack = (out: Record<string, string>, status: StackStatus = 'UPDATE_COMPLETE') => ({
  Stacks: [{ StackName: 's3-dr-e2e', StackStatus: status, CreationTime: new Date(), Outputs: outputs(out) }],
});

/** What CloudFormation answers for a stack that does not exist (DescribeStacks: "a ValidationError is returned"). */
const noSuchStack = (name: string) =>
  new CloudFormationServiceException({
    name: 'ValidationError',
    $fault: 'client',
    message: `Stack with id ${name} does not exist`,
    $metadata: { httpStatusCode: 400 },
  });

const options = { stage: 'e2e', region: SOURCE_REGION, maxMultipartBytes: 256 * MiB };

/** Commands the S3 mocks received that change a bucket. */
const writes = () =>
  [...sourceMock.calls(), ...drMock.calls()]
    .map((c) => c.args[0].constructor.name)
    .filter(
      (name) => !/^(GetBucketVersioning|ListObjectVersions|ListObjectsV2|HeadObject)Command$/.test(name),
    );

beforeEach(() => {
  for (const m of [cfnPrimaryMock, cfnDrMock, sourceMock, drMock, lambdaMock]) m.reset();
  cfnPrimaryMock.on(DescribeStacksCommand).resolves(stack(primaryOutputs));
  cfnDrMock
    .on(DescribeStacksCommand)
    .resolves(stack({ DrBucketName: 'e2e-dr', RestoreFunctionName: 'dr-restore' }));
  drMock.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
  drMock.on(ListObjectVersionsCommand).resolves({ IsTruncated: false });
});

describe('finding a deployed stage from its stack outputs', () => {
  it('reads the primary stack in the given region and the dr stack in the DR region it names', async () => {
    const stage = await discoverStage('e2e', SOURCE_REGION, clients.cloudFormation);

    expect(stage).toEqual({
      stage: 'e2e',
      sourceRegion: SOURCE_REGION,
      sourceBucket: 'e2e-source',
      drRegion: DR_REGION,
      drBucket: 'e2e-dr',
      deletePolicy: 'mirror',
      keyLayout: 'flat',
      multipartThreshold: 16 * MiB,
      verifyFunction: 's3-dr-e2e-verify',
      restoreFunction: 's3-dr-e2e-restore',
    });
    expect(cfnPrimaryMock).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 's3-dr-e2e' });
    expect(cfnDrMock).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 's3-dr-e2e' });
  });

  it('names the stack, region and deploy command when a stack does not exist (CloudFormation answers ValidationError)', async () => {
    cfnPrimaryMock.on(DescribeStacksCommand).rejects(noSuchStack('s3-dr-e2e'));
    const attempt = discoverStage('e2e', SOURCE_REGION, clients.cloudFormation);
    await expect(attempt).rejects.toThrow(StageDiscoveryError);
    await expect(attempt).rejects.toThrow(
      'stack s3-dr-e2e does not exist in eu-west-1; deploy it first (npx sls deploy --stage e2e)',
    );

    cfnPrimaryMock.on(DescribeStacksCommand).resolves(stack(primaryOutputs));
    cfnDrMock.on(DescribeStacksCommand).rejects(noSuchStack('s3-dr-e2e'));
    await expect(discoverStage('e2e', SOURCE_REGION, clients.cloudFormation)).rejects.toThrow(
      'stack s3-dr-e2e does not exist in eu-central-1; deploy it first (npx sls deploy --stage e2e --param="stackRole=dr")',
    );
  });

  it('refuses a stack in the middle of a change', async () => {
    cfnPrimaryMock.on(DescribeStacksCommand).resolves(stack(primaryOutputs, 'UPDATE_IN_PROGRESS'));
    await expect(discoverStage('e2e', SOURCE_REGION, clients.cloudFormation)).rejects.toThrow(
      'stack s3-dr-e2e in eu-west-1 is UPDATE_IN_PROGRESS',
    );
  });

  it('names the missing outputs of a stack deployed from an older serverless.yml (or of the dr stack)', async () => {
    const { VerifyFunctionName: _, DeletePolicy: __, ...older } = primaryOutputs;
    cfnPrimaryMock.on(DescribeStacksCommand).resolves(stack(older));
    const attempt = discoverStage('e2e', SOURCE_REGION, clients.cloudFormation);
    await expect(attempt).rejects.toThrow(
      /lacks the outputs the suite needs \(DeletePolicy: .*; VerifyFunctionName: /,
    );
  });

  it('refuses stacks deployed with different DR buckets', async () => {
    cfnDrMock.on(DescribeStacksCommand).resolves(stack({ DrBucketName: 'another-dr' }));
    await expect(discoverStage('e2e', SOURCE_REGION, clients.cloudFormation)).rejects.toThrow(
      'created bucket another-dr, but the primary stack replicates into e2e-dr',
    );
  });

  it('accepts a dr stack without DrBucketName (createDrBucket: false, the bucket is brought)', async () => {
    cfnDrMock.on(DescribeStacksCommand).resolves(stack({ RestoreFunctionName: 'dr-restore' }));
    await expect(discoverStage('e2e', SOURCE_REGION, clients.cloudFormation)).resolves.toMatchObject({
      drBucket: 'e2e-dr',
    });
  });

  it('reads the outputs serverless.yml declares (the template test checks the same list)', () => {
    expect(PRIMARY_OUTPUT_KEYS.sort()).toEqual(
      [
        'DeletePolicy',
        'DrBucket',
        'DrRegion',
        'KeyLayout',
        'MultipartThreshold',
        'RestoreFunctionName',
        'SourceBuckets',
        'VerifyFunctionName',
      ].sort(),
    );
  });
});

describe('the refusal rule: only test data in the DR bucket', () => {
  it('opens a stage whose DR bucket holds only s3dr-e2e/ and .s3dr/, having written nothing', async () => {
    // ListObjectVersions with Delimiter "/" rolls keys up into CommonPrefixes (Amazon S3 API Reference).
    drMock.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      CommonPrefixes: [{ Prefix: '.s3dr/' }, { Prefix: 's3dr-e2e/' }],
    });
    const target = await openAwsTarget(options, clients);

    expect(target.stage.drBucket).toBe('e2e-dr');
    expect(drMock).toHaveReceivedCommandWith(ListObjectVersionsCommand, {
      Bucket: 'e2e-dr',
      Prefix: '',
      Delimiter: '/',
    });
    // One LIST at the root: the allowed prefixes are not walked.
    expect(drMock).toHaveReceivedCommandTimes(ListObjectVersionsCommand, 1);
    expect(writes()).toEqual([]);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it.each([
    [
      'an object at the top level',
      { Versions: [{ Key: 'readme.txt', VersionId: 'v1', IsLatest: true }] },
      'readme.txt',
    ],
    ['another prefix', { CommonPrefixes: [{ Prefix: 's3dr-e2e/' }, { Prefix: 'photos/' }] }, 'photos/…'],
    // A deleted object's delete marker (and its noncurrent versions) is still data held in DR.
    [
      'only a delete marker',
      { DeleteMarkers: [{ Key: 'old.txt', VersionId: 'd1', IsLatest: true }] },
      'old.txt',
    ],
  ])('refuses a DR bucket holding %s, before writing anything', async (_what, page, offender) => {
    drMock.on(ListObjectVersionsCommand).resolves({ IsTruncated: false, ...page });

    const attempt = openAwsTarget(options, clients);

    await expect(attempt).rejects.toThrow(E2eRefusedError);
    await expect(attempt).rejects.toThrow(
      `refusing to run against stage e2e: its DR bucket e2e-dr holds objects outside s3dr-e2e/ and .s3dr/ (${offender})`,
    );
    expect(writes()).toEqual([]);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('follows ListObjectVersions pages (NextKeyMarker, NextVersionIdMarker) to an offender on page 2', async () => {
    drMock
      .on(ListObjectVersionsCommand, { Bucket: 'e2e-dr', Prefix: '', Delimiter: '/', KeyMarker: undefined })
      .resolves({
        IsTruncated: true,
        CommonPrefixes: [{ Prefix: '.s3dr/' }],
        NextKeyMarker: '.s3dr/',
        NextVersionIdMarker: 'null',
      })
      .on(ListObjectVersionsCommand, { KeyMarker: '.s3dr/', VersionIdMarker: 'null' })
      .resolves({ IsTruncated: false, CommonPrefixes: [{ Prefix: 'zz-backups/' }] });

    await expect(assertOnlyTestData(drS3, 'e2e-dr', 's3dr-e2e/', 'stage e2e')).rejects.toThrow(
      '(zz-backups/…)',
    );
  });

  it('descends toward the test prefix of a bucket-prefixed layout, and only there', async () => {
    drMock
      .on(ListObjectVersionsCommand, { Prefix: '' })
      .resolves({ IsTruncated: false, CommonPrefixes: [{ Prefix: 'e2e-source/' }] })
      .on(ListObjectVersionsCommand, { Prefix: 'e2e-source/' })
      .resolves({ IsTruncated: false, CommonPrefixes: [{ Prefix: 'e2e-source/s3dr-e2e/' }] });
    await expect(
      assertOnlyTestData(drS3, 'e2e-dr', 'e2e-source/s3dr-e2e/', 'stage e2e'),
    ).resolves.toBeUndefined();
    expect(drMock).toHaveReceivedCommandTimes(ListObjectVersionsCommand, 2);

    drMock.on(ListObjectVersionsCommand, { Prefix: 'e2e-source/' }).resolves({
      IsTruncated: false,
      CommonPrefixes: [{ Prefix: 'e2e-source/s3dr-e2e/' }, { Prefix: 'e2e-source/photos/' }],
    });
    await expect(assertOnlyTestData(drS3, 'e2e-dr', 'e2e-source/s3dr-e2e/', 'stage e2e')).rejects.toThrow(
      '(e2e-source/photos/…)',
    );
  });

  it('lists current objects (ListObjectsV2) in a bucket that was never versioned (GetBucketVersioning has no Status)', async () => {
    drMock.on(GetBucketVersioningCommand).resolves({});
    drMock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [{ Key: 'data.bin' }] });
    await expect(assertOnlyTestData(drS3, 'e2e-dr', 's3dr-e2e/', 'stage e2e')).rejects.toThrow('(data.bin)');
    expect(drMock).toHaveReceivedCommandTimes(ListObjectVersionsCommand, 0);
  });

  it('refuses a stage whose multipart threshold would make the suite upload gigabytes, before writing', async () => {
    cfnPrimaryMock
      .on(DescribeStacksCommand)
      .resolves(stack({ ...primaryOutputs, MultipartThreshold: String(5 * 1024 * MiB) }));
    const attempt = openAwsTarget(options, clients);
    await expect(attempt).rejects.toThrow(E2eRefusedError);
    await expect(attempt).rejects.toThrow(
      "the stage's multipartThreshold is 5368709120 bytes, so the multipart scenario would upload 5368709121 bytes",
    );
    expect(writes()).toEqual([]);
  });
});

describe('cleanup of every version the run wrote', () => {
  const prefix = 's3dr-e2e/run-1/';

  it('lists all versions and delete markers across pages and deletes each by VersionId', async () => {
    drMock
      .on(ListObjectVersionsCommand, { Prefix: prefix, KeyMarker: undefined })
      .resolves({
        IsTruncated: true,
        NextKeyMarker: `${prefix}b`,
        NextVersionIdMarker: 'vb1',
        Versions: [
          { Key: `${prefix}a`, VersionId: 'va2', IsLatest: true },
          { Key: `${prefix}a`, VersionId: 'va1', IsLatest: false },
          { Key: `${prefix}b`, VersionId: 'vb1', IsLatest: false },
        ],
      })
      .on(ListObjectVersionsCommand, { Prefix: prefix, KeyMarker: `${prefix}b`, VersionIdMarker: 'vb1' })
      .resolves({
        IsTruncated: false,
        DeleteMarkers: [{ Key: `${prefix}b`, VersionId: 'db2', IsLatest: true }],
      });
    drMock.on(DeleteObjectsCommand).resolves({});

    const report = await cleanupStored(drS3, 'e2e-dr', { prefix });

    expect(drMock).toHaveReceivedCommandWith(DeleteObjectsCommand, {
      Bucket: 'e2e-dr',
      Delete: {
        Quiet: true,
        Objects: [
          { Key: `${prefix}a`, VersionId: 'va2' },
          { Key: `${prefix}a`, VersionId: 'va1' },
          { Key: `${prefix}b`, VersionId: 'vb1' },
          { Key: `${prefix}b`, VersionId: 'db2' },
        ],
      },
    });
    expect(report).toEqual({
      bucket: 'e2e-dr',
      scope: `${prefix}*`,
      versioned: true,
      removed: 4,
      leftToLifecycle: 0,
      hidden: 0,
    });
  });

  it('deletes at most 1,000 entries per DeleteObjects request', async () => {
    const versions = Array.from({ length: 1001 }, (_, i) => ({
      Key: `${prefix}k${i}`,
      VersionId: `v${i}`,
      IsLatest: true,
    }));
    drMock.on(ListObjectVersionsCommand).resolves({ IsTruncated: false, Versions: versions });
    drMock.on(DeleteObjectsCommand).resolves({});

    await cleanupStored(drS3, 'e2e-dr', { prefix });

    const sizes = drMock
      .commandCalls(DeleteObjectsCommand)
      .map((c) => c.args[0].input.Delete?.Objects?.length);
    expect(sizes).toEqual([1000, 1]);
  });

  it('leaves versions the bucket policy protects to the lifecycle rule, hiding current objects behind delete markers', async () => {
    drMock.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      Versions: [
        { Key: `${prefix}a`, VersionId: 'va2', IsLatest: true },
        { Key: `${prefix}a`, VersionId: 'va1', IsLatest: false },
      ],
      DeleteMarkers: [{ Key: `${prefix}b`, VersionId: 'db1', IsLatest: true }],
    });
    // DeleteObjects reports a failure per key, in Errors, with HTTP 200 (Amazon S3 API Reference,
    // DeleteObjects): here the DR bucket policy's Deny on s3:DeleteObjectVersion.
    const denied = (Key: string, VersionId: string) => ({
      Key,
      VersionId,
      Code: 'AccessDenied',
      Message: 'Access Denied',
    });
    drMock
      .on(DeleteObjectsCommand)
      .callsFake((input: { Delete: { Objects: { Key: string; VersionId?: string }[] } }) => ({
        Errors: input.Delete.Objects.filter((o) => o.VersionId).map((o) => denied(o.Key, o.VersionId!)),
      }));

    const report = await cleanupStored(drS3, 'e2e-dr', { prefix });

    // The second request is a plain delete (no VersionId) of the one current object: a delete marker.
    expect(drMock).toHaveReceivedNthCommandWith(4, DeleteObjectsCommand, {
      Delete: { Quiet: true, Objects: [{ Key: `${prefix}a` }] },
    });
    expect(report).toMatchObject({ removed: 0, leftToLifecycle: 3, hidden: 1 });
    expect(describeCleanup(report)).toContain(
      'the bucket policy denied deleting 3 version(s)/marker(s) (s3:DeleteObjectVersion is reserved to the admin principal): 1 current object(s) hidden behind delete markers, the rest is left to the lifecycle rule',
    );
  });

  it('fails, naming the keys, when a delete fails for another reason — after trying every key', async () => {
    drMock.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      Versions: [
        { Key: `${prefix}a`, VersionId: 'va1', IsLatest: true },
        { Key: `${prefix}b`, VersionId: 'vb1', IsLatest: true },
      ],
    });
    drMock.on(DeleteObjectsCommand).resolves({
      Errors: [
        {
          Key: `${prefix}b`,
          VersionId: 'vb1',
          Code: 'InternalError',
          Message: 'We encountered an internal error.',
        },
      ],
    });

    const attempt = cleanupStored(drS3, 'e2e-dr', { prefix });
    await expect(attempt).rejects.toThrow(CleanupError);
    await expect(attempt).rejects.toThrow(`failed for 1 entry: ${prefix}b@vb1: InternalError`);
  });

  it('removes only the exact key it is given (a prefix listing also returns longer keys)', async () => {
    drMock.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      Versions: [
        { Key: '.s3dr/verify/src/scope-1.json', VersionId: 'v1', IsLatest: true },
        { Key: '.s3dr/verify/src/scope-1.json.bak', VersionId: 'v2', IsLatest: true },
      ],
    });
    drMock.on(DeleteObjectsCommand).resolves({});
    await cleanupStored(drS3, 'e2e-dr', { key: '.s3dr/verify/src/scope-1.json' });
    expect(drMock).toHaveReceivedCommandWith(DeleteObjectsCommand, {
      Delete: { Quiet: true, Objects: [{ Key: '.s3dr/verify/src/scope-1.json', VersionId: 'v1' }] },
    });
  });

  it('deletes objects by key in an unversioned bucket', async () => {
    sourceMock.on(GetBucketVersioningCommand).resolves({});
    sourceMock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [{ Key: `${prefix}a` }] });
    sourceMock.on(DeleteObjectsCommand).resolves({});
    const report = await cleanupStored(sourceS3, 'e2e-source', { prefix });
    expect(sourceMock).toHaveReceivedCommandWith(DeleteObjectsCommand, {
      Delete: { Quiet: true, Objects: [{ Key: `${prefix}a` }] },
    });
    expect(report).toMatchObject({ versioned: false, removed: 1 });
  });
});

describe('cleanup of a run, in order', () => {
  const prefix = 's3dr-e2e/run-2/';
  const runTarget = (waitMs: number): E2eTarget => ({
    description: 'test',
    source: { s3: sourceS3, bucket: 'e2e-source' },
    dr: { s3: drS3, bucket: 'e2e-dr' },
    deletePolicy: 'mirror',
    multipartThreshold: 16 * MiB,
    drKey: (key) => key,
    verify: async () => {
      throw new Error('not used');
    },
    restore: async () => {
      throw new Error('not used');
    },
    settle: async () => undefined,
    waitMs,
    close: async () => undefined,
  });

  beforeEach(() => {
    sourceMock.on(GetBucketVersioningCommand).resolves({});
    sourceMock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [{ Key: `${prefix}a` }] });
    sourceMock.on(DeleteObjectsCommand).resolves({});
    drMock.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      Versions: [{ Key: `${prefix}a`, VersionId: 'v1', IsLatest: false }],
      DeleteMarkers: [{ Key: `${prefix}a`, VersionId: 'd1', IsLatest: true }],
    });
    drMock.on(DeleteObjectsCommand).resolves({});
  });

  it('cleans the source, waits until DR shows those deletes (mirror), then cleans DR and the run’s .s3dr/ files', async () => {
    // DR's current view still holds the object once, then the replicated delete has landed.
    drMock
      .on(ListObjectsV2Command)
      .resolvesOnce({ IsTruncated: false, Contents: [{ Key: `${prefix}a` }] })
      .resolves({ IsTruncated: false });

    const reports = await cleanupRun(runTarget(60_000), prefix, ['.s3dr/verify/e2e-source/scope-1.json']);

    expect(reports.map((r) => `${r.bucket}/${r.scope}`)).toEqual([
      `e2e-source/${prefix}*`,
      `e2e-dr/${prefix}*`,
      'e2e-dr/.s3dr/verify/e2e-source/scope-1.json',
    ]);
    expect(drMock).toHaveReceivedCommandTimes(ListObjectsV2Command, 2);
    expect(drMock).toHaveReceivedCommandWith(DeleteObjectsCommand, {
      Delete: {
        Quiet: true,
        Objects: [
          { Key: `${prefix}a`, VersionId: 'v1' },
          { Key: `${prefix}a`, VersionId: 'd1' },
        ],
      },
    });
  });

  it('still cleans DR when the replicated deletes do not show in time, then fails saying so', async () => {
    drMock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [{ Key: `${prefix}a` }] });

    const attempt = cleanupRun(runTarget(0), prefix, []);

    await expect(attempt).rejects.toThrow(CleanupError);
    await expect(attempt).rejects.toThrow('cleaned up, but the DR deletes did not all land first');
    expect(drMock).toHaveReceivedCommandTimes(DeleteObjectsCommand, 1);
  });
});

describe('invoking the stage’s functions', () => {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it('returns the parsed result of a synchronous invocation', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ ok: 1 }) as never });
    await expect(invokeFunction(lambdaClient, 'fn', { a: 1 })).resolves.toEqual({ ok: 1 });
    const sent = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(sent?.InvocationType).toBe('RequestResponse');
    expect(JSON.parse(new TextDecoder().decode(sent?.Payload as Uint8Array))).toEqual({ a: 1 });
  });

  it("runs the stage's verify and restore by the names in the stack outputs, checking the reports' shape", async () => {
    const counts = { ok: 3, missing: 0, mismatched: 0, orphaned: 0, pending: 0 };
    lambdaMock
      .on(InvokeCommand, { FunctionName: 's3-dr-e2e-verify' })
      .resolves({
        StatusCode: 200,
        Payload: encode({ counts, pass: { complete: true }, reportKey: 'r' }) as never,
      })
      .on(InvokeCommand, { FunctionName: 's3-dr-e2e-restore' })
      .resolves({
        StatusCode: 200,
        Payload: encode({ job: 'j', state: 'complete', report: { dryRun: true } }) as never,
      });
    const target = await openAwsTarget(options, clients);

    await expect(target.verify({ prefix: 'p/' })).resolves.toMatchObject({ counts, reportKey: 'r' });
    expect(lambdaMock).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 's3-dr-e2e-verify' });
    // A restore report without its plan is not what this version of restore returns.
    await expect(target.restore({ keys: ['k'] })).rejects.toThrow(/plan/);
  });

  it('turns a function error (200 with FunctionError and the error object, per Lambda’s Invoke API) into an exception', async () => {
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: encode({
        errorType: 'InvalidRestorePayloadError',
        errorMessage: 'Invalid restore payload: keys: …',
      }) as never,
    });
    const attempt = invokeFunction(lambdaClient, 's3-dr-e2e-restore', {});
    await expect(attempt).rejects.toThrow(FunctionFailedError);
    await expect(attempt).rejects.toThrow(
      's3-dr-e2e-restore failed (Unhandled): InvalidRestorePayloadError: Invalid restore payload: keys: …',
    );
  });
});

describe('options', () => {
  it('maps the command line to the environment the suite reads', () => {
    expect(e2eEnvFromArgs([])).toEqual({});
    expect(e2eEnvFromArgs(['--stage', 'e2e', '--region', 'eu-west-1', '--wait-seconds', '300'])).toEqual({
      S3DR_E2E_STAGE: 'e2e',
      S3DR_E2E_REGION: 'eu-west-1',
      S3DR_E2E_WAIT_SECONDS: '300',
    });
    expect(() => e2eEnvFromArgs(['--stag', 'e2e'])).toThrow("Unknown option '--stag'");
    expect(() => e2eEnvFromArgs(['--region', 'eu-west-1'])).toThrow('--region applies to a deployed stage');
    expect(e2eOptionsFromEnv({ S3DR_E2E_STAGE: 'e2e', S3DR_E2E_MAX_MULTIPART_MIB: '64' })).toEqual({
      stage: 'e2e',
      maxMultipartBytes: 64 * MiB,
    });
    expect(() => e2eOptionsFromEnv({ S3DR_E2E_WAIT_SECONDS: 'soon' })).toThrow(
      'S3DR_E2E_WAIT_SECONDS is "soon"',
    );
  });

  it('plans the smallest multipart object above the threshold, in parts of S3’s 5 MiB minimum', () => {
    expect(multipartPartSizes(16 * MiB, 256 * MiB)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, MiB + 1]);
    expect(multipartPartSizes(5 * MiB, 256 * MiB)).toEqual([5 * MiB, 1]);
    expect(() => multipartPartSizes(256 * MiB, 256 * MiB)).toThrow(E2eRefusedError);
  });
});
