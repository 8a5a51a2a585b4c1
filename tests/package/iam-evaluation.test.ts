/**
 * Permissions proven by evaluation, not by listing them. The test:
 *
 * 1. packages both stacks offline (`sls package`, primary and dr) with every optional permission switched
 *    on — SSE-KMS keys for the DR bucket, the source bucket and the queues, a restore target, a multipart
 *    threshold small enough to copy in parts — and configures the real handlers with the environment
 *    the template gives the functions;
 * 2. drives the real handlers (adapters included) through a set of scenarios that reach every AWS request
 *    path s3-dr has — replicate's blind copy, reconcile, delete, multipart copy and its resume, tag-only
 *    changes (versioned and unversioned DR) and KMS copies settled by checksums; verify's listing pass,
 *    repairs, cursor, ETag ledger and deep mode; restore's dry run, versioned and unversioned copies,
 *    multipart copies and their resume, thawing archived copies and KMS copies the target already holds;
 *    verify's and restore's takeover of an expired run lease; ingest's enqueue — against an
 *    in-memory S3 behind a mocked SDK client (tests/helpers/memory-s3-client.ts), recording every S3 and
 *    SQS request each function makes (tests/helpers/iam-recorder.ts), plus the requests Lambda makes with
 *    the function's role (event source mapping, on-failure destination), read from the template;
 * 3. maps each request to the IAM actions and resources AWS authorises for it, KMS calls included
 *    (tests/helpers/iam-actions.ts, after the Service Authorization Reference for S3 and SQS);
 * 4. evaluates each against the deployed policies with @cloud-copilot/iam-simulate: the function's role
 *    (principal = its role ARN), the DR bucket policy of the dr stack (with its explicit denies), the queue
 *    policy, the KMS key policies, in the context of a Lambda calling over HTTPS (aws:SecureTransport true).
 *
 * A request the role would be denied fails, naming the function, the request, the action, the resource
 * and the deciding policy; and so does every action a role statement grants that no recorded request
 * needed ("granted but unused"), unless UNUSED_ALLOWED below says why it must stay.
 *
 * The requests the real handlers make in the integration suites (over HTTP, against the emulator) are
 * judged the same way, against the same packaged templates (cached, tests/helpers/iam-stacks.ts), by
 * tests/iam/recorded-calls.test.ts; "granted but unused" is judged here only, since these scenarios reach
 * every request path and the integration suites only some.
 *
 * It is self-contained, so it does not depend on which other test files ran, or in which order: the
 * scenarios run here, one at a time, each in a fresh in-memory world. Policies are never written down
 * here: they are read from the packaged templates, so this keeps judging serverless.yml as it changes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { Task } from '../../lib/core/task.ts';
import { aContext, anS3Record, anSqsEvent, aTask } from '../helpers/builders.ts';
import {
  type EncryptionWorld,
  type RecordedCall,
  type Requirement,
  requiredPermissions,
} from '../helpers/iam-actions.ts';
import {
  evaluate,
  type FunctionRole,
  keysAtRest,
  ResourcePolicies as Policies,
  platformCalls,
  type ResourcePolicies,
  resolve,
  type Stack,
} from '../helpers/iam-evaluate.ts';
import { SdkCallRecorder } from '../helpers/iam-recorder.ts';
import {
  ACCOUNT,
  DR,
  DR_ACCOUNT,
  DR_ACCOUNT_KEY,
  DR_KEY,
  describeCall,
  drAccountTemplates,
  drAccountWorld,
  type Evaluated,
  evaluateCalls,
  type IamWorld,
  iamWorld,
  QUEUE_KEY,
  SOURCE,
  TARGET,
} from '../helpers/iam-stacks.ts';
import { serveFromMemory } from '../helpers/memory-s3-client.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { get, root } from '../helpers/template.ts';

const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);

const MiB = 1024 * 1024;

/**
 * Grants no scenario here exercises, each with the reason it stays. Keep this short: a path that can be
 * driven belongs in a scenario instead. Keys are `<role logical id>/<Sid> <action>`.
 */
const UNUSED_ALLOWED: Record<string, string> = {};

let encryption: EncryptionWorld;
let stacks: Stack[];
let roles: FunctionRole[];
let policies: ResourcePolicies;
let world: IamWorld;
const recorder = new SdkCallRecorder({ s3, sqs });

type Handler<E, R> = (event: E, context: Context) => Promise<R>;
let handlers: {
  ingest: Handler<unknown, unknown>;
  replicate: Handler<SQSEvent, { batchItemFailures: unknown[] }>;
  verify: Handler<unknown, unknown>;
  restore: Handler<unknown, { job: string; report?: { failures: unknown[] } }>;
  jobWorker: Handler<SQSEvent, { batchItemFailures: unknown[] }>;
};

/** A fresh world for each scenario: the three buckets, the DR one versioned unless told otherwise. */
function freshWorld(options: { drVersioned?: boolean } = {}) {
  s3.reset();
  sqs.reset();
  const world = new MemoryWorld({ tickMs: 2000 });
  const source = world.bucket(SOURCE);
  const dr = world.bucket(DR, { versioned: options.drVersioned ?? true });
  const target = world.bucket(TARGET);
  serveFromMemory(s3, world);
  const queued: Task[] = [];
  jobMessages.length = 0;
  sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string; MessageBody: string }[] }) => {
    for (const e of input.Entries) {
      // The job queue's messages (a planning step or a shard) name a job; tasks never do.
      if ('job' in (JSON.parse(e.MessageBody) as object)) jobMessages.push(e.MessageBody);
      else queued.push(JSON.parse(e.MessageBody) as Task);
    }
    return {
      Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: '' })),
    };
  });
  return { world, source, dr, target, queued };
}

const taskFor = (key: string, o: { etag: string; body: Buffer }, extra: Partial<Task> = {}) =>
  aTask({ bucket: SOURCE, key, etag: o.etag, size: o.body.length, ...extra });
const bytes = (size: number, seed = 1) => Buffer.alloc(size, seed);

async function replicate(...tasks: Task[]) {
  const r = await recorder.during('replicate', () => handlers.replicate(anSqsEvent(...tasks), aContext()));
  expect(r.batchItemFailures).toEqual([]);
}
/**
 * The run lease a function took in its last recorded run: the key its `If-None-Match: *` PutObject named
 * (lib/verify/run-lease.ts; one key per function and normalized request).
 */
function lastLeaseKey(fn: 'verify'): string {
  // Verify's runs are the job worker's (verify jobs, lib/verify/job.ts).
  const put = recorder.calls.findLast(
    (c) =>
      c.fn === 'jobWorker' &&
      c.operation === 'PutObject' &&
      c.input.IfNoneMatch === '*' &&
      String(c.input.Key).startsWith(`.s3dr/leases/${fn}/`),
  );
  if (!put) throw new Error(`${fn} took no run lease`);
  return String(put.input.Key);
}
/** A lease left by a run that died without releasing it: expired long ago, so the next run takes it over. */
const expiredLease = (fn: string) =>
  JSON.stringify({
    v: 1,
    function: fn,
    runId: 'a-run-that-died',
    startedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T00:15:00.000Z',
    request: {},
  });

/** Job-queue messages sent in the current scenario, delivered to the job worker by {@link restore}. */
const jobMessages: string[] = [];
/**
 * A restore or verify job from start to end, as on AWS: its function starts it (recorded as `restore` or
 * `verify`), the job worker runs every message the job queue receives (recorded as `jobWorker`), and the
 * function answers the final status; its report is returned.
 */
async function runJob<R>(fn: 'restore' | 'verify', payload: Record<string, unknown>): Promise<R> {
  const handler = handlers[fn] as Handler<unknown, { job: string; report?: unknown }>;
  const started = await recorder.during(fn, () => handler(payload, aContext(600_000)));
  const from = recorder.calls.length;
  while (jobMessages.length > 0) {
    const body = jobMessages.shift() as string;
    const r = await recorder.during('jobWorker', () =>
      handlers.jobWorker(anSqsEvent(body), aContext(600_000)),
    );
    expect(r.batchItemFailures).toEqual([]);
  }
  // Verify jobs run on the primary only: the dr stack's job worker never runs one.
  if (fn === 'verify') for (const c of recorder.calls.slice(from)) c.stack = 'primary';
  const done = await recorder.during(fn, () => handler({ job: started.job }, aContext(600_000)));
  if (!done.report) throw new Error(`${fn} job ${started.job} did not finish`);
  return done.report as R;
}
const restore = (payload: Record<string, unknown>) => runJob<{ failures: unknown[] }>('restore', payload);
const verify = (payload: Record<string, unknown>) => runJob<unknown>('verify', payload);

beforeAll(async () => {
  // The dr-account stage's templates too (its describe block reads them from the cache): four
  // `sls package` runs at once, two at a time (tests/helpers/template.ts), not two and then two.
  [world] = await Promise.all([iamWorld(), drAccountTemplates()]);
  ({ stacks, roles, policies, encryption } = world);
  const { primary } = world;
  const atRest = keysAtRest(stacks);
  expect(Object.fromEntries(atRest.buckets)).toEqual({ [DR]: DR_KEY });
  // The replication queue and its DLQ, and each stack's job queue and job DLQ.
  expect([...atRest.queues.values()]).toEqual(Array(6).fill(QUEUE_KEY));

  // The handlers run with the environment the primary stack gives them (as on Lambda).
  const env = resolve(
    stacks[0] as Stack,
    get(primary.Resources.ReplicateLambdaFunction?.Properties, 'Environment', 'Variables'),
  ) as Record<string, string>;
  for (const [name, value] of Object.entries(env)) if (name !== 'NODE_OPTIONS') process.env[name] = value;
  handlers = {
    ingest: (await import('../../functions/ingest.ts')).handler as never,
    replicate: (await import('../../functions/replicate.ts')).handler as never,
    verify: (await import('../../functions/verify.ts')).handler as never,
    restore: (await import('../../functions/restore.ts')).handler as never,
    jobWorker: (await import('../../functions/job-worker.ts')).handler as never,
  };
  freshWorld();
  await recorder.during('ingest', () =>
    handlers.ingest(
      { Records: [anS3Record({ bucket: SOURCE, key: 'photos/new.jpg', size: 10, eTag: 'e1' })] },
      aContext(),
    ),
  );
  {
    // A fresh small upload: one conditional COPY (tags copied), then a HEAD of the source (mirror).
    const { source } = freshWorld();
    const o = source.put('photos/small.jpg', 'small');
    await replicate(taskFor('photos/small.jpg', o));
  }
  {
    // A larger overwrite: HEAD DR first; an old DR copy, so copy again.
    const { source, dr } = freshWorld();
    dr.put('photos/large.bin', bytes(2 * MiB, 7));
    const o = source.put('photos/large.bin', bytes(2 * MiB, 8));
    await replicate(taskFor('photos/large.bin', o));
  }
  {
    // Deletes under `mirror`: a DR copy to delete; a key DR never had (a HEAD answering 404).
    const { dr } = freshWorld();
    dr.put('photos/gone.jpg', 'gone');
    await replicate(
      aTask({
        bucket: SOURCE,
        key: 'photos/gone.jpg',
        eventName: 'ObjectRemoved:Delete',
        etag: undefined,
        size: undefined,
      }),
      aTask({
        bucket: SOURCE,
        key: 'photos/never.jpg',
        eventName: 'ObjectRemoved:Delete',
        etag: undefined,
        size: undefined,
      }),
    );
  }
  {
    // A multipart source: copied part by part with its own boundaries; an upload older than the source
    // is aborted.
    const { source, dr } = freshWorld();
    const stale = await dr.startMultipart('videos/big.mp4', {});
    expect(stale).toBeDefined();
    const o = source.put('videos/big.mp4', bytes(12 * MiB, 3), { partSizes: [5 * MiB, 5 * MiB, 2 * MiB] });
    await replicate(taskFor('videos/big.mp4', o));
  }
  {
    // An interrupted multipart copy is resumed: its upload is found and its parts listed.
    const { source, dr } = freshWorld();
    const o = source.put('videos/resume.mp4', bytes(12 * MiB, 4), { partSizes: [5 * MiB, 5 * MiB, 2 * MiB] });
    const { uploadId } = await dr.startMultipart('videos/resume.mp4', {});
    await dr.copyPart({ bucket: SOURCE, key: 'videos/resume.mp4' }, 'videos/resume.mp4', uploadId, 1, {
      start: 0,
      end: 5 * MiB - 1,
    });
    await replicate(taskFor('videos/resume.mp4', o));
  }
  {
    // A verify pass: a key missing in DR, one whose DR copy differs, one identical copy with another
    // ETag (SSE-KMS) that is settled by HEAD, one plainly identical; repairs queued; cursor and report
    // under .s3dr/. Then a deep pass, which compares checksums and, lacking them, content.
    const { source, dr, queued } = freshWorld();
    source.put('a/identical.txt', 'identical');
    dr.put('a/identical.txt', 'identical');
    source.put('a/missing.txt', 'missing');
    const same = source.put('a/same.txt', 'same');
    dr.put('a/same.txt', 'SAME', { metadata: { 's3dr-source-etag': same.etag } });
    source.put('a/stale.txt', 'new');
    dr.put('a/stale.txt', 'old');
    await verify({});
    expect(queued.map((t) => t.key).sort()).toEqual(['a/missing.txt', 'a/stale.txt']);
    const leaseKey = lastLeaseKey('verify');
    await verify({ deep: true });
    // The same request again, after a run that died holding its lease: the lease is read (GetObject),
    // found expired and taken over (If-Match). This second pass reads the ETag ledger the first wrote
    // for a/same.txt (its ETags differ) and deletes the piece once read (lib/verify/ledger.ts).
    dr.put(leaseKey, expiredLease('verify'), { contentType: 'application/json' });
    const ledger = () => [...dr.objects.keys()].filter((k) => k.includes('/ledger/')).sort();
    const firstLedger = ledger();
    expect(firstLedger).toHaveLength(1);
    await verify({});
    expect(ledger()).toHaveLength(1);
    expect(ledger()).not.toEqual(firstLedger);
    expect(dr.objects.has(leaseKey)).toBe(false);
  }
  {
    // Restores from the versioned DR bucket: a dry run, then a real one into the source bucket (a
    // deleted key comes back from its version), a multipart object into the restore target, an
    // interrupted restore resumed, and an archived copy that must be thawed first.
    const { source, dr, target, world } = freshWorld();
    // An upload begun before the DR version was written holds no part of it: aborted, not resumed.
    await target.startMultipart('big/movie.mp4', {});
    dr.put('docs/deleted.txt', 'deleted at the source');
    dr.delete('docs/deleted.txt');
    dr.put('docs/present.txt', 'in DR, not at the source');
    source.put('docs/present-other.txt', 'x');
    dr.put('big/movie.mp4', bytes(11 * MiB, 5), { partSizes: [5 * MiB, 5 * MiB, 1 * MiB] }).tags = {
      team: 'a',
    };
    // The version is tagged too (the memory store keeps each version's own copy of its fields).
    for (const h of dr.history) if (h.key === 'big/movie.mp4' && !h.deleteMarker) h.tags = { team: 'a' };
    dr.put('big/resume.mp4', bytes(11 * MiB, 6), { partSizes: [5 * MiB, 5 * MiB, 1 * MiB] });
    const { uploadId: resumed } = await target.startMultipart('big/resume.mp4', {});
    await target.copyPart({ bucket: DR, key: 'big/resume.mp4' }, 'big/resume.mp4', resumed, 1, {
      start: 0,
      end: 5 * MiB - 1,
    });
    const archived = dr.put('cold/archived.txt', 'archived');
    archived.storageClass = 'GLACIER';
    for (const h of dr.history)
      if (h.key === 'cold/archived.txt' && !h.deleteMarker) h.storageClass = 'GLACIER';
    world.now();
    await restore({ prefix: 'docs/' });
    // The same dry run again: a new job takes over the finished one's slot (If-Match on its pointer).
    const again = await restore({ prefix: 'docs/' });
    expect(again.failures).toEqual([]);
    const real = await restore({ prefix: 'docs/', dryRun: false });
    expect(real.failures).toEqual([]);
    const big = await restore({ prefix: 'big/', dryRun: false, target: { bucket: TARGET } });
    expect(big.failures).toEqual([]);
    await restore({ keys: ['cold/archived.txt'], dryRun: false });
  }
  {
    // A DR bucket the operator brought, not versioned: restore reads current objects, not versions;
    // here a tagged multipart object back into the (SSE-KMS) source bucket.
    const { dr } = freshWorld({ drVersioned: false });
    dr.put('big/movie.mp4', bytes(11 * MiB, 5), { partSizes: [5 * MiB, 5 * MiB, 1 * MiB] }).tags = {
      team: 'a',
    };
    const r = await restore({ prefix: 'big/', dryRun: false });
    expect(r.failures).toEqual([]);
  }
  {
    // Tag-only changes (copyTags on) reach a versioned DR bucket: the DR copy holds the source's bytes,
    // written with SSE-KMS (another ETag, no recorded source ETag), which only the full-object checksums
    // of both sides can vouch for (GetObjectAttributes). Its tags are then read and replaced on the DR
    // version compared (Get/PutObjectTagging with VersionId), or removed when the source has none left
    // (DeleteObjectTagging with VersionId).
    const { source, dr } = freshWorld();
    const retagged = source.put('tags/retagged.txt', 'retagged', { checksum: 'SHA256', tags: { team: 'b' } });
    dr.put('tags/retagged.txt', 'retagged', { kms: true, checksum: 'SHA256', tags: { team: 'a' } });
    const untagged = source.put('tags/untagged.txt', 'untagged', { checksum: 'SHA256' });
    dr.put('tags/untagged.txt', 'untagged', { kms: true, checksum: 'SHA256', tags: { team: 'a' } });
    expect(dr.objects.get('tags/retagged.txt')?.etag).not.toBe(retagged.etag);
    await replicate(
      taskFor('tags/retagged.txt', retagged, { eventName: 'ObjectTagging:Put' }),
      taskFor('tags/untagged.txt', untagged, { eventName: 'ObjectTagging:Delete' }),
    );
    expect(dr.objects.get('tags/retagged.txt')?.tags).toEqual({ team: 'b' });
    expect(dr.objects.get('tags/untagged.txt')?.tags).toEqual({});
    // No byte was copied: the KMS copies stand (their ETags are unchanged).
    expect(dr.history.filter((h) => h.key.startsWith('tags/'))).toHaveLength(2);
  }
  {
    // The same into a DR bucket the operator brought, not versioned: no version to pin, so the plain
    // tagging actions (GetObjectTagging when both sides have as many tags, DeleteObjectTagging).
    const { source, dr } = freshWorld({ drVersioned: false });
    const retagged = source.put('tags/retagged.txt', 'retagged', { tags: { team: 'b' } });
    dr.put('tags/retagged.txt', 'retagged', { tags: { team: 'a' } });
    const untagged = source.put('tags/untagged.txt', 'untagged');
    dr.put('tags/untagged.txt', 'untagged', { tags: { team: 'a' } });
    await replicate(
      taskFor('tags/retagged.txt', retagged, { eventName: 'ObjectTagging:Put' }),
      taskFor('tags/untagged.txt', untagged, { eventName: 'ObjectTagging:Delete' }),
    );
    expect(dr.objects.get('tags/retagged.txt')?.tags).toEqual({ team: 'b' });
    expect(dr.objects.get('tags/untagged.txt')?.tags).toEqual({});
  }
  {
    // A restore into a source that already holds the bytes of a KMS DR copy (another ETag, nothing
    // recorded): the DR version's checksums and the target's decide, and nothing is copied.
    const { source, dr } = freshWorld();
    dr.put('kms/doc.txt', 'the same bytes', { kms: true, checksum: 'SHA256' });
    source.put('kms/doc.txt', 'the same bytes', { checksum: 'SHA256' });
    const before = source.objects.get('kms/doc.txt');
    const r = await restore({ prefix: 'kms/', dryRun: false });
    expect(r.failures).toEqual([]);
    expect(source.objects.get('kms/doc.txt')).toBe(before);
  }
  // The dr stack's restore and job worker send to their own stack's job queue, in the DR region: the same
  // requests the primary stack's made to its queue above (the handlers ran with the primary's environment).
  const drStack = stacks[1] as Stack;
  for (const c of [...recorder.calls]) {
    const url = String(c.input.QueueUrl ?? '');
    if (c.service !== 'sqs' || !url.endsWith('-primary-jobs')) continue;
    const drUrl = url
      .replace(/sqs\.[a-z0-9-]+\.amazonaws/, `sqs.${drStack.region}.amazonaws`)
      .replace(/-primary-jobs$/, '-dr-jobs');
    recorder.calls.push({ ...c, input: { ...c.input, QueueUrl: drUrl } });
  }
  for (const stack of stacks) recorder.calls.push(...platformCalls(stack));
  // Four `sls package` runs (unless cached), two at a time, take 5 s on an idle machine and over a
  // minute each on a busy one.
}, 400_000);

describe('IAM, evaluated against the packaged templates', () => {
  let evaluated: Evaluated[];
  beforeAll(async () => {
    evaluated = await evaluateCalls(recorder.calls, world);
  }, 120_000);

  it('recorded requests of every function, in both stacks', () => {
    const byFunction = new Map<string, Set<string>>();
    for (const c of recorder.calls)
      byFunction.set(c.fn, (byFunction.get(c.fn) ?? new Set()).add(c.operation));
    expect([...byFunction.keys()].sort()).toEqual(['ingest', 'jobWorker', 'replicate', 'restore', 'verify']);
    expect(roles.map((r) => `${r.stack}:${r.fn}`).sort()).toEqual([
      'dr:jobWorker',
      'dr:restore',
      'primary:ingest',
      'primary:jobWorker',
      'primary:replicate',
      'primary:restore',
      'primary:verify',
    ]);
    expect(evaluated.length).toBeGreaterThan(100);
  });

  it('records every operation the S3 and SQS adapters can send', async () => {
    // A new adapter operation must reach a scenario here (and a row in iam-actions.ts) to be evaluated.
    const sent = new Set<string>();
    for (const file of ['lib/aws/s3-object-store.ts', 'lib/aws/sqs-task-queue.ts']) {
      const text = await readFile(join(root, file), 'utf8');
      for (const m of text.matchAll(/new (\w+)Command\(/g)) if (m[1]) sent.add(m[1]);
    }
    const recorded = new Set(recorder.calls.map((c) => c.operation));
    expect([...sent].filter((op) => !recorded.has(op))).toEqual([]);
    expect(sent.size).toBeGreaterThan(15);
  });

  it('allows every request each function makes (S3, SQS and the KMS calls they imply)', () => {
    const denied = evaluated
      .filter((e) => e.decision.result !== 'Allowed')
      .map((e) => `${describeCall(e)}: ${e.decision.result}, ${e.decision.reason}`);
    expect([...new Set(denied)]).toEqual([]);
  });

  it('grants no action that no request needs (granted but unused)', () => {
    const used = new Set(
      evaluated.flatMap((e) => e.decision.allowedBy.map((id) => `${e.role.stack} ${id} ${e.req.action}`)),
    );
    const unused: string[] = [];
    for (const role of roles) {
      for (const { id, statement } of role.statements) {
        if (statement.Effect !== 'Allow') continue;
        for (const action of [statement.Action ?? []].flat()) {
          // The function's logs are written by the Lambda runtime, not by s3-dr's code.
          if (!/^(s3|sqs|kms):/.test(action)) continue;
          const grant = `${id} ${action}`;
          if (!used.has(`${role.stack} ${grant}`) && !UNUSED_ALLOWED[grant])
            unused.push(`${role.stack} stack: ${grant}`);
        }
      }
    }
    expect(unused).toEqual([]);
  });

  it('keeps no stale entry in the allow-list of unused grants', () => {
    const granted = new Set(
      roles.flatMap((r) =>
        r.statements.flatMap((s) => [s.statement.Action ?? []].flat().map((a) => `${s.id} ${a}`)),
      ),
    );
    const used = new Set(evaluated.flatMap((e) => e.decision.allowedBy.map((id) => `${id} ${e.req.action}`)));
    const stale = Object.keys(UNUSED_ALLOWED).filter((grant) => !granted.has(grant) || used.has(grant));
    expect(stale).toEqual([]);
  });
});

describe('the evaluator catches mistakes', () => {
  const replicateRole = () => {
    const role = roles.find((r) => r.stack === 'primary' && r.fn === 'replicate');
    if (!role) throw new Error('no replicate role');
    return role;
  };

  it('denies replicate its source reads once ReadSourceObjects is removed from its role', async () => {
    const role = replicateRole();
    const trimmed = role.statements.filter((s) => s.statement.Sid !== 'ReadSourceObjects');
    expect(trimmed.length).toBe(role.statements.length - 1);
    const denied = new Set<string>();
    for (const call of recorder.calls.filter((c) => c.fn === 'replicate')) {
      for (const req of requiredPermissions(call, encryption)) {
        const d = await evaluate(role, req, policies, ACCOUNT, trimmed);
        if (d.result !== 'Allowed') denied.add(`${call.operation} ${req.action} ${d.result}: ${d.reason}`);
      }
    }
    expect([...denied]).toEqual(
      expect.arrayContaining([
        `HeadObject s3:GetObject ImplicitlyDenied: no statement of ${role.roleId} allows it`,
        `CopyObject s3:GetObjectTagging ImplicitlyDenied: no statement of ${role.roleId} allows it`,
        `GetObjectAttributes s3:GetObjectAttributes ImplicitlyDenied: no statement of ${role.roleId} allows it`,
      ]),
    );
  });

  it('reports a request the DR bucket policy denies, even where the role would allow it', async () => {
    // Deleting a DR *version* (a DeleteObject naming a VersionId) is the admin's alone (docs/design.md,
    // invariant 2): granting it to replicate's role does not make it allowed.
    const role = replicateRole();
    const call: RecordedCall = {
      fn: 'replicate',
      service: 's3',
      operation: 'DeleteObject',
      input: { Bucket: DR, Key: 'photos/cat.jpg', VersionId: 'v1' },
    };
    const [req] = requiredPermissions(call, encryption);
    expect(req?.action).toBe('s3:DeleteObjectVersion');
    const widened = [
      ...role.statements,
      {
        id: `${role.roleId}/Widened`,
        statement: {
          Effect: 'Allow' as const,
          Action: 's3:DeleteObjectVersion',
          Resource: `arn:aws:s3:::${DR}/*`,
        },
      },
    ];
    const d = await evaluate(role, req as Requirement, policies, ACCOUNT, widened);
    expect(d).toMatchObject({ result: 'ExplicitlyDenied' });
    expect(d.reason).toBe(
      `explicitly denied by the bucket policy of ${DR}, statement DenyVersionDeletionAndProtectionChangesExceptAdmin`,
    );
  });

  it('denies a KMS use the role does not grant (a write to the DR bucket with another key)', async () => {
    const role = replicateRole();
    const other = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/99999999-9999-9999-9999-999999999999`;
    const reqs = requiredPermissions(
      {
        fn: 'replicate',
        service: 's3',
        operation: 'PutObject',
        input: { Bucket: DR, Key: 'x', SSEKMSKeyId: other },
      },
      encryption,
    );
    const kms = reqs.find((r) => r.action === 'kms:GenerateDataKey');
    expect(kms?.resource).toBe(other);
    expect((await evaluate(role, kms as Requirement, policies, ACCOUNT)).result).toBe('ImplicitlyDenied');
  });
});

/**
 * The same requests with the DR bucket and its key in an account of their own (issue #14): the primary
 * stack in ACCOUNT, the dr stack — DR bucket, its policy, the key it creates and its own restore — in
 * DR_ACCOUNT. A primary role's request on the DR bucket or key is then cross-account, and AWS allows it
 * only when both the role's identity policy and the bucket (or key) policy allow it (IAM User Guide,
 * "Cross-account policy evaluation logic"; AWS KMS developer guide, "Allowing users in other accounts to
 * use a KMS key"); iam-simulate evaluates it that way when the principal's and the resource's accounts
 * differ.
 */
describe('IAM with the DR bucket and its key in a DR account', () => {
  let dra: IamWorld;
  let evaluated: Evaluated[];
  /**
   * The scenarios' requests as the handlers send them on that stage: the environment differs only in the
   * DR key (SSEKMSKeyId) and the DR bucket's owner (ExpectedBucketOwner) — the first test holds that.
   */
  const onDrAccountStage = (call: RecordedCall): RecordedCall => {
    const input: Record<string, unknown> = { ...call.input };
    for (const [name, value] of Object.entries(input)) if (value === DR_KEY) input[name] = DR_ACCOUNT_KEY;
    if (input.Bucket === DR && input.ExpectedBucketOwner === ACCOUNT) input.ExpectedBucketOwner = DR_ACCOUNT;
    // The dr stack's job queue is in the DR account, with the stack.
    if (typeof input.QueueUrl === 'string' && input.QueueUrl.endsWith('-dr-jobs'))
      input.QueueUrl = input.QueueUrl.replace(`/${ACCOUNT}/`, `/${DR_ACCOUNT}/`);
    return { ...call, input };
  };
  const functionEnv = (w: IamWorld, fn: string) =>
    resolve(
      w.stacks[0] as Stack,
      get(w.primary.Resources[`${fn}LambdaFunction`]?.Properties, 'Environment', 'Variables'),
    ) as Record<string, string>;

  beforeAll(async () => {
    dra = await drAccountWorld();
    evaluated = await evaluateCalls(recorder.calls.map(onDrAccountStage), dra);
  }, 400_000);

  it('gives the primary functions the environment of the single-account stage but for the DR key and owner', () => {
    for (const fn of ['Ingest', 'Replicate', 'Verify', 'Restore']) {
      const single = functionEnv(world, fn);
      const split = functionEnv(dra, fn);
      const changed = Object.keys({ ...single, ...split }).filter((k) => single[k] !== split[k]);
      expect({ fn, changed: changed.sort() }).toEqual({
        fn,
        changed: ['S3DR_DR_BUCKET_OWNER', 'S3DR_DR_KMS_KEY_ID'],
      });
      expect(split.S3DR_DR_BUCKET_OWNER).toBe(DR_ACCOUNT);
      expect(split.S3DR_DR_KMS_KEY_ID).toBe(DR_ACCOUNT_KEY);
    }
  });

  it('puts the DR bucket and the key in the DR account, the roles of the primary functions in the primary', () => {
    expect(dra.policies.accountOf(`arn:aws:s3:::${DR}/x`)).toBe(DR_ACCOUNT);
    expect(dra.encryption.bucketKey(DR)).toBe(DR_ACCOUNT_KEY);
    expect(dra.roles.map((r) => `${r.stack}:${r.fn}:${r.roleArn.split(':')[4]}`).sort()).toEqual([
      `dr:jobWorker:${DR_ACCOUNT}`,
      `dr:restore:${DR_ACCOUNT}`,
      `primary:ingest:${ACCOUNT}`,
      `primary:jobWorker:${ACCOUNT}`,
      `primary:replicate:${ACCOUNT}`,
      `primary:restore:${ACCOUNT}`,
      `primary:verify:${ACCOUNT}`,
    ]);
  });

  /**
   * The dr stack's restore writing into the primary account's source bucket (with its source key): a
   * cross-account write that only the primary account can grant, with the source bucket's policy and
   * its key's policy — s3-dr's templates create neither. With the primary account untrusted, the DR
   * account's restore writes to a clean bucket instead
   * (docs/security.md#game-day-the-source-account-is-compromised).
   */
  const intoThePrimaryAccount = (e: Evaluated) =>
    e.role.stack === 'dr' && dra.policies.accountOf(e.req.resource) === ACCOUNT;

  it('leaves the dr stack’s restore into the primary account’s buckets to grants of the primary account', () => {
    const into = evaluated.filter(intoThePrimaryAccount);
    expect(new Set(into.map((e) => e.req.action.split(':')[0]))).toEqual(new Set(['s3', 'kms']));
    expect(into.filter((e) => e.decision.result === 'Allowed').map(describeCall)).toEqual([]);
  });

  it('allows every request each function makes, the cross-account ones by both the role and the DR bucket or key policy', () => {
    const denied = evaluated
      .filter((e) => !intoThePrimaryAccount(e))
      .filter((e) => e.decision.result !== 'Allowed')
      .map((e) => `${describeCall(e)}: ${e.decision.result}, ${e.decision.reason}`);
    expect([...new Set(denied)]).toEqual([]);
    // Cross-account requests were judged, on the bucket and on the key, by every primary function there.
    const crossAccount = evaluated.filter(
      (e) => e.role.stack === 'primary' && dra.policies.accountOf(e.req.resource) === DR_ACCOUNT,
    );
    expect(new Set(crossAccount.map((e) => `${e.role.fn} ${e.req.action.split(':')[0]}`))).toEqual(
      new Set([
        'replicate s3',
        'replicate kms',
        'verify s3',
        'verify kms',
        'restore s3',
        'restore kms',
        'jobWorker s3',
        'jobWorker kms',
      ]),
    );
  });

  it('needs the DR bucket policy’s grants: without them the primary roles are denied on the DR bucket', async () => {
    const [primary, dr] = dra.stacks as [Stack, Stack];
    const policy = get(dr.template.Resources.DrBucketPolicy?.Properties, 'PolicyDocument') as {
      Statement: { Sid?: string }[];
    };
    const stripped: Stack = {
      ...dr,
      template: {
        ...dr.template,
        Resources: {
          ...dr.template.Resources,
          DrBucketPolicy: {
            ...(dr.template.Resources.DrBucketPolicy as NonNullable<(typeof dr.template.Resources)[string]>),
            Properties: {
              ...dr.template.Resources.DrBucketPolicy?.Properties,
              PolicyDocument: {
                ...policy,
                Statement: policy.Statement.filter((st) => !String(st.Sid).startsWith('Primary')),
              },
            },
          },
        },
      },
    };
    const withoutGrants = new Policies([primary, stripped]);
    const replicate = dra.roles.find((r) => r.stack === 'primary' && r.fn === 'replicate');
    if (!replicate) throw new Error('no replicate role');
    const put: Requirement = {
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${DR}/photos/a.jpg`,
      because: '',
    };
    expect((await evaluate(replicate, put, dra.policies, ACCOUNT)).result).toBe('Allowed');
    expect((await evaluate(replicate, put, withoutGrants, ACCOUNT)).result).toBe('ImplicitlyDenied');
  });

  it('sends a mirror delete as a delete marker: no replicate request names a DR version to delete', () => {
    const deletes = recorder.calls.filter(
      (c) => c.fn === 'replicate' && c.operation === 'DeleteObject' && c.input.Bucket === DR,
    );
    expect(deletes.length).toBeGreaterThan(0);
    expect(deletes.filter((c) => c.input.VersionId !== undefined)).toEqual([]);
  });
});
