/**
 * The S3 and SQS requests the real handlers made in the integration suites, evaluated against the
 * packaged templates. Runs after the integration project (`npm test`: `npm run test:iam-calls`), which
 * records them: local/call-recorder.ts, one file per test file under S3DR_IAM_CALLS_DIR, each request
 * with the function whose invocation made it (the handlers run over HTTP against the emulator, with the
 * real SDK clients). Each request is mapped to the IAM actions and resources it needs, KMS included
 * (tests/helpers/iam-actions.ts), moved into the packaged stage's names by the part its bucket or queue
 * plays (tests/helpers/iam-call-log.ts), and evaluated with @cloud-copilot/iam-simulate against that
 * function's roles and the bucket, queue and key policies — the same templates, packaged once and cached,
 * as tests/package/iam-evaluation.test.ts. A request a role would be denied fails, naming the test file, the
 * function, the request, the action, the resource and the deciding policy.
 *
 * "Granted but unused" is judged by the unit evaluation alone: its scenarios reach every request path,
 * the integration suites only some of them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CallRecord, RecordedStage } from '../../local/call-recorder.ts';
import { type Judgement, judgeRecordings, recordingName } from '../helpers/iam-call-log.ts';
import { DR, type IamWorld, iamWorld, SOURCE } from '../helpers/iam-stacks.ts';
import { root } from '../helpers/template.ts';

let world: IamWorld;
beforeAll(async () => {
  world = await iamWorld();
  // Two `sls package` runs if the unit evaluation's templates are not cached (inputs changed since).
}, 400_000);

describe('the evaluation of recorded requests catches mistakes', () => {
  const local: RecordedStage = {
    sourceBuckets: ['source-bucket'],
    drBucket: 'dr-bucket',
    restoreTargets: ['restore-target'],
    queueUrl: 'http://127.0.0.1:4566/000000000000/s3-dr-local-replication',
    copyTags: false,
    thawArchivedSources: false,
  };
  const record = (r: Partial<CallRecord>): CallRecord => ({
    fn: 'replicate',
    service: 's3',
    operation: 'HeadObject',
    input: { Bucket: 'source-bucket', Key: 'photos/cat.jpg' },
    stage: local,
    ...r,
  });
  let dir: string;
  let judged: Judgement;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 's3dr-iam-calls-'));
    const lines = [
      // Allowed: replicate reads the source and copies into DR.
      record({}),
      record({
        operation: 'CopyObject',
        input: { Bucket: 'dr-bucket', Key: 'photos/cat.jpg', CopySource: 'source-bucket/photos/cat.jpg' },
      }),
      record({
        fn: 'ingest',
        service: 'sqs',
        operation: 'SendMessageBatch',
        input: { QueueUrl: local.queueUrl ?? '' },
      }),
      // Allowed: a key with CR and LF is in `source-bucket/*` (patches/@cloud-copilot+iam-simulate*.patch).
      record({ input: { Bucket: 'source-bucket', Key: 'ctl/a\r\nb' } }),
      // Denied: verify writes only under .s3dr/ in the DR bucket.
      record({
        fn: 'verify',
        operation: 'DeleteObject',
        input: { Bucket: 'dr-bucket', Key: 'photos/cat.jpg' },
      }),
      // Cannot be judged: a bucket the stage does not have, and a request outside any invocation.
      record({ input: { Bucket: 'someone-else', Key: 'x' } }),
      record({ fn: null, operation: 'ListObjectsV2', input: { Bucket: 'dr-bucket' } }),
    ];
    await writeFile(
      join(dir, recordingName('tests/integration/fake.test.ts')),
      lines.map((l) => JSON.stringify(l)).join('\n'),
    );
    judged = await judgeRecordings(dir, world);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('moves each request into the packaged stage by the part its bucket or queue plays', () => {
    expect(judged.calls.map((c) => c.input.Bucket ?? c.input.QueueUrl)).toEqual([
      SOURCE,
      DR,
      expect.stringMatching(
        /^https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/s3-dr-dev-replication$/,
      ),
      SOURCE,
      DR,
    ]);
    expect(judged.calls[1]?.input.CopySource).toBe(`${SOURCE}/photos/cat.jpg`);
  });

  it('fails a request the role would be denied, naming the test file, function, action and resource', () => {
    expect(judged.failures).toContainEqual(
      expect.stringMatching(
        /^tests\/integration\/fake\.test\.ts: verify \(primary stack, .*\): DeleteObject "s3-dr-dev-dr"\/photos\/cat\.jpg needs s3:DeleteObject on arn:aws:s3:::s3-dr-dev-dr\/photos\/cat\.jpg .*ImplicitlyDenied, no statement of VerifyIamRoleLambdaExecution allows it$/,
      ),
    );
  });

  it('matches a key holding CR and LF with a wildcard, as IAM does ("IAM JSON policy elements: Resource": * is any combination of characters)', () => {
    // iam-simulate 0.1.173 turned `*` into a regular expression whose `.` stops at line terminators; S3 keys
    // may hold them (tests/integration/control-char-keys.test.ts), so the patch adds the `s` flag.
    expect(judged.calls.map((c) => c.input.Key)).toContain('ctl/a\r\nb');
    expect(judged.failures.filter((f) => f.includes('ctl/a'))).toEqual([]);
  });

  it('fails a request it cannot judge: a bucket the stage does not have, or no function', () => {
    expect(judged.failures).toEqual(
      expect.arrayContaining([
        expect.stringContaining('bucket someone-else is none of the stage'),
        expect.stringContaining('outside any invocation'),
      ]),
    );
    expect(judged.failures).toHaveLength(3);
  });
});

describe('the requests of the integration suites, evaluated against the packaged templates', () => {
  const dir = process.env.S3DR_IAM_CALLS_DIR;
  let judged: Judgement;
  beforeAll(async () => {
    if (!dir) throw new Error('S3DR_IAM_CALLS_DIR is not set: run `npm run test:iam-calls`');
    judged = await judgeRecordings(resolve(root, dir), world);
  }, 300_000);

  it('recorded requests of every function (run `npm run test:integration` first)', () => {
    const byFunction = new Map<string, Set<string>>();
    for (const c of judged.calls) byFunction.set(c.fn, (byFunction.get(c.fn) ?? new Set()).add(c.testFile));
    expect([...byFunction.keys()].sort()).toEqual(['ingest', 'jobWorker', 'replicate', 'restore', 'verify']);
  });

  it('allows every request the functions made (S3, SQS and the KMS calls they imply)', () => {
    expect(judged.failures).toEqual([]);
  });
});
