/**
 * The requests the real handlers made in the integration suites (recorded by local/call-recorder.ts,
 * one JSON-lines file per test file), judged against the packaged templates like the unit evaluation's
 * (tests/helpers/iam-stacks.ts).
 *
 * The local stage names its buckets and queue differently from the stage the templates package
 * (`source-bucket` vs `s3-dr-dev-source`); policies grant by name, so each request is moved into the
 * packaged stage by the part its bucket or queue plays there — a source bucket, the DR bucket, a restore
 * target, the replication queue — as each recording says the handler was configured. Packaging the
 * `local` stage instead would cost two more `sls package` runs and judge a stage nobody deploys. A
 * bucket or queue that plays no part, or a permission switch (copyTags, thawArchivedSources) the
 * recording had on and the packaged stage has off, cannot be judged and fails.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallRecord } from '../../local/call-recorder.ts';
import type { RecordedCall } from './iam-actions.ts';
import { resolve } from './iam-evaluate.ts';
import { describeCall, evaluateCalls, type IamWorld } from './iam-stacks.ts';
import { get } from './template.ts';

/** A recorded request, in the packaged stage's names, with the test file that made it. */
export interface LoggedCall extends RecordedCall {
  testFile: string;
}

/** `tests/integration/x.test.ts` ⇄ the recording's file name (one folder, no slashes). */
export const recordingName = (testFile: string) => `${testFile.replaceAll('/', '__')}.jsonl`;
const testFileOf = (name: string) => name.replace(/\.jsonl$/, '').replaceAll('__', '/');

/** Every recording in `dir`, with the test file each line came from. */
export async function readRecordings(dir: string): Promise<(CallRecord & { testFile: string })[]> {
  const out: (CallRecord & { testFile: string })[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      out.push({ ...(JSON.parse(line) as CallRecord), testFile: testFileOf(name) });
    }
  }
  return out;
}

/** The names and switches of the packaged stage, read from the environment its template gives replicate. */
function packagedStage(world: IamWorld) {
  const primary = world.stacks[0];
  if (!primary) throw new Error('no primary stack');
  const env = resolve(
    primary,
    get(world.primary.Resources.ReplicateLambdaFunction?.Properties, 'Environment', 'Variables'),
  ) as Record<string, string>;
  const list = (v: string | undefined) => (v ?? '').split(',').filter(Boolean);
  return {
    sourceBuckets: list(env.S3DR_SOURCE_BUCKETS),
    drBucket: String(env.S3DR_DR_BUCKET),
    restoreTargets: list(env.S3DR_RESTORE_TARGETS),
    queueUrl: String(env.S3DR_QUEUE_URL),
    jobQueueUrl: String(env.S3DR_JOB_QUEUE_URL),
    copyTags: env.S3DR_COPY_TAGS === 'true',
    thawArchivedSources: env.S3DR_THAW_ARCHIVED_SOURCES === 'true',
  };
}

/** One recording in the packaged stage's names, or why it cannot be judged. */
export function toPackagedStage(
  record: CallRecord & { testFile: string },
  world: IamWorld,
): { call: LoggedCall } | { problem: string } {
  const where = `${record.testFile}: ${record.fn ?? '(no function)'} ${record.operation} ${JSON.stringify(record.input)}`;
  if (record.fn === null) {
    return {
      problem: `${where} was sent by a function's client outside any invocation: invoke handlers with invokeHandler (local/lambda-context.ts), so the request is judged against the function's role`,
    };
  }
  if (!world.roles.some((r) => r.fn === record.fn)) {
    return { problem: `${where}: no packaged function is named ${record.fn}` };
  }
  const stage = packagedStage(world);
  for (const flag of ['copyTags', 'thawArchivedSources'] as const) {
    if (record.stage[flag] && !stage[flag]) {
      return {
        problem: `${where} ran with ${flag} on, which the packaged stage has off: package it on (tests/helpers/iam-stacks.ts PARAMS)`,
      };
    }
  }
  const pick = (list: string[], i: number) => list[Math.min(i, list.length - 1)];
  const bucket = (name: string): string | undefined => {
    const s = record.stage;
    if (s.sourceBuckets.includes(name)) return pick(stage.sourceBuckets, s.sourceBuckets.indexOf(name));
    if (name === s.drBucket) return stage.drBucket;
    if (s.restoreTargets.includes(name)) return pick(stage.restoreTargets, s.restoreTargets.indexOf(name));
    return undefined;
  };
  const input: Record<string, string> = { ...record.input };
  if (input.Bucket !== undefined) {
    const mapped = bucket(input.Bucket);
    if (!mapped) return { problem: `${where}: bucket ${input.Bucket} is none of the stage's buckets` };
    input.Bucket = mapped;
  }
  if (input.CopySource !== undefined) {
    const path = input.CopySource.replace(/^\//, '');
    const slash = path.indexOf('/');
    const mapped = bucket(path.slice(0, slash));
    if (!mapped) return { problem: `${where}: copy source ${path} is in none of the stage's buckets` };
    input.CopySource = `${mapped}${path.slice(slash)}`;
  }
  if (input.QueueUrl !== undefined) {
    if (input.QueueUrl === record.stage.queueUrl) input.QueueUrl = stage.queueUrl;
    else if (input.QueueUrl === record.stage.jobQueueUrl) input.QueueUrl = stage.jobQueueUrl;
    else {
      return {
        problem: `${where}: queue ${input.QueueUrl} is neither the stage's replication queue nor its job queue`,
      };
    }
  }
  return {
    call: {
      fn: record.fn,
      service: record.service,
      operation: record.operation,
      input,
      ...(record.error ? { error: record.error } : {}),
      ...(isVerifyRun(record) ? { stack: 'primary' as const } : {}),
      testFile: record.testFile,
    },
  };
}

/**
 * A job worker's request that only a verify job's run makes: on the verifier's own state (cursor, ledger,
 * run lease, run reports), to the replication queue (repairs), or for a source object's tags (deep mode;
 * restore reads tags from DR versions). Verify jobs run on the primary only (the dr stack has no verify),
 * so these are judged against the primary's job worker alone. The job worker's other requests — the job's
 * state, listings and HEADs both kinds of job make — are judged against both stacks' roles.
 */
function isVerifyRun(record: CallRecord): boolean {
  if (record.fn !== 'jobWorker') return false;
  const key = record.input.Key ?? '';
  if (/^\.s3dr\/(verify|leases\/verify|reports\/verify)\//.test(key)) return true;
  if (record.input.QueueUrl !== undefined && record.input.QueueUrl === record.stage.queueUrl) return true;
  return (
    record.operation === 'GetObjectTagging' && record.stage.sourceBuckets.includes(record.input.Bucket ?? '')
  );
}

export interface Judgement {
  calls: LoggedCall[];
  /** Requests that cannot be judged, and requests a role would be denied: each names its test file. */
  failures: string[];
}

/** Reads the recordings in `dir` and evaluates each request against the function's packaged roles. */
export async function judgeRecordings(dir: string, world: IamWorld): Promise<Judgement> {
  const calls: LoggedCall[] = [];
  const failures: string[] = [];
  for (const record of await readRecordings(dir)) {
    const mapped = toPackagedStage(record, world);
    if ('problem' in mapped) failures.push(mapped.problem);
    else calls.push(mapped.call);
  }
  for (const e of await evaluateCalls(calls, world)) {
    if (e.decision.result === 'Allowed') continue;
    failures.push(`${e.call.testFile}: ${describeCall(e)}: ${e.decision.result}, ${e.decision.reason}`);
  }
  return { calls, failures: [...new Set(failures)] };
}
