/**
 * Records every S3 and SQS request a function's handler makes on the local runtime, for the IAM
 * evaluation of the integration suites (tests/iam/recorded-calls.test.ts, README "Security"). Off unless
 * S3DR_RECORD_CALLS names a file: then each request is appended to it as one JSON line — the function
 * (from the invocation scope, local/lambda-context.ts), the operation, the request fields IAM
 * authorisation depends on, the error it failed with, and the stage's bucket and queue names the handler
 * ran with, so the evaluation can tell the source bucket from the DR bucket.
 *
 * The handlers' clients are made inside lib/ (lib/aws/clients.ts, at cold start) and are not reachable
 * from here; rather than add a hook to product code that runs in Lambda, this wraps `send` on the SDK
 * client classes of this process — the way aws-sdk-client-mock stubs them — and only when asked to.
 * Requests outside any invocation (the runtime standing in for AWS, the tests' own clients) are not a
 * function's; but a client that has served an invocation and then sends outside one is a handler run
 * without {@link invokeHandler}, recorded with no function so the evaluation rejects it.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../lib/core/config.ts';
import { invocationScope, scopeInvocations } from './lambda-context.ts';

/** The request fields the IAM mapping reads (tests/helpers/iam-actions.ts); never bodies. */
const FIELDS = [
  'Bucket',
  'Key',
  'VersionId',
  'CopySource',
  'QueueUrl',
  'TaggingDirective',
  'Tagging',
  'SSEKMSKeyId',
];

/** The names and switches of the stage a request was made in, as the handlers' configuration has them. */
export interface RecordedStage {
  sourceBuckets: string[];
  drBucket: string;
  restoreTargets: string[];
  queueUrl?: string;
  /** The job queue (restore jobs), when the stage has one. */
  jobQueueUrl?: string;
  copyTags: boolean;
  thawArchivedSources: boolean;
}

/** One line of a recording. `fn` is null for a function's client sending outside any invocation. */
export interface CallRecord {
  fn: string | null;
  service: 's3' | 'sqs';
  operation: string;
  input: Record<string, string>;
  error?: string;
  stage: RecordedStage;
}

const INSTALLED = Symbol.for('s3dr.callRecorder');
type Send = (this: object, command: { input?: Record<string, unknown> }, ...rest: unknown[]) => unknown;

const stages = new Map<string, RecordedStage>();
function currentStage(): RecordedStage {
  const key = JSON.stringify(
    process.env,
    Object.keys(process.env)
      .filter((k) => k.startsWith('S3DR_'))
      .sort(),
  );
  let stage = stages.get(key);
  if (!stage) {
    const c = loadConfig(process.env);
    stage = {
      sourceBuckets: c.sourceBuckets,
      drBucket: c.drBucket,
      restoreTargets: c.restoreTargets,
      ...(c.queueUrl ? { queueUrl: c.queueUrl } : {}),
      ...(c.jobQueueUrl ? { jobQueueUrl: c.jobQueueUrl } : {}),
      copyTags: c.copyTags,
      thawArchivedSources: c.thawArchivedSources,
    };
    stages.set(key, stage);
  }
  return stage;
}

const written = new Set<string>();
function write(record: CallRecord): void {
  const file = process.env.S3DR_RECORD_CALLS;
  if (!file) return;
  const line = `${JSON.stringify(record)}\n`;
  // The same request (a retry, a poll of the same key) authorises the same way: once is enough.
  if (written.has(file + line)) return;
  written.add(file + line);
  mkdirSync(dirname(file), { recursive: true });
  // Synchronous: `npm run verify` and `npm run restore` exit right after the handler returns, and test
  // files' processes append to their own file only.
  appendFileSync(file, line);
}

/**
 * Starts recording if S3DR_RECORD_CALLS is set (the integration project's setup sets it per test file).
 * Idempotent; the file is read at each request, so a process serving several test files writes each
 * file's requests to its own recording.
 */
export function recordFunctionCalls(): void {
  if (!process.env.S3DR_RECORD_CALLS) return;
  scopeInvocations();
  const servedInvocations = new WeakSet<object>();
  for (const [service, client] of [
    ['s3', S3Client],
    ['sqs', SQSClient],
  ] as const) {
    const proto = client.prototype as unknown as { send: Send; [INSTALLED]?: true };
    if (proto[INSTALLED]) continue;
    const original = proto.send;
    proto[INSTALLED] = true;
    proto.send = function send(this: object, command, ...rest) {
      const fn = invocationScope.getStore()?.functionName;
      if (fn) servedInvocations.add(this);
      else if (!servedInvocations.has(this)) return original.call(this, command, ...rest);
      const input: Record<string, string> = {};
      for (const field of FIELDS) {
        const value = command.input?.[field];
        if (typeof value === 'string') input[field] = value;
      }
      const record = (error?: string) =>
        write({
          fn: fn ?? null,
          service,
          operation: command.constructor.name.replace(/Command$/, ''),
          input,
          ...(error ? { error } : {}),
          stage: currentStage(),
        });
      const result = original.call(this, command, ...rest);
      if (!(result instanceof Promise)) {
        record();
        return result;
      }
      return result.then(
        (output) => {
          record();
          return output;
        },
        (error: unknown) => {
          record(error instanceof Error ? error.name : String(error));
          throw error;
        },
      );
    };
  }
}
