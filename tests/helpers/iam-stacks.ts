/**
 * The stage the IAM evaluations judge — both stacks of `dev`, packaged offline with every optional
 * permission on — as a policy model, and the evaluation of recorded requests against it. Shared by the
 * unit evaluation (tests/unit/iam-evaluation.test.ts) and the evaluation of what the integration suites
 * recorded (tests/iam/recorded-calls.test.ts): the templates are packaged once and cached under
 * node_modules/.cache by a hash of what they are made from, so the second never packages again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EncryptionWorld, RecordedCall, Requirement } from './iam-actions.ts';
import { requiredPermissions } from './iam-actions.ts';
import {
  type Decision,
  evaluate,
  type FunctionRole,
  functionRoles,
  keysAtRest,
  ResourcePolicies,
  type Stack,
} from './iam-evaluate.ts';
import { type CfnTemplate, get, packageTemplate, root } from './template.ts';

export const ACCOUNT = '123456789012';
export const ADMIN = `arn:aws:iam::${ACCOUNT}:role/s3dr-admin`;
export const DR_KEY = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
export const QUEUE_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/66666666-7777-8888-9999-000000000000`;
export const SOURCE_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee`;
const MiB = 1024 * 1024;
export const SOURCE = 's3-dr-dev-source';
export const DR = 's3-dr-dev-dr';
export const TARGET = 'restore-target';

/** The stage evaluated: every optional permission on (the `dev` stage's buckets). */
export const PARAMS = {
  restoreTargets: TARGET,
  kmsKeyArn: DR_KEY,
  queueKmsKeyArn: QUEUE_KEY,
  sourceKmsKeyArns: SOURCE_KEY,
  multipartThreshold: String(5 * MiB),
  partSize: String(5 * MiB),
};
const DR_PARAMS = { ...PARAMS, stackRole: 'dr', adminPrincipalArn: ADMIN };

/** What the packaged templates are made of: a change to any of these packages them again. */
const INPUTS = ['serverless.yml', 'scripts/serverless-events.cjs', 'package-lock.json'];

/**
 * `sls package` of both stacks, or the copy cached for the same inputs and parameters. Written to a
 * temporary name and renamed, so a reader never sees half a file.
 */
export async function packagedTemplates(): Promise<{ primary: CfnTemplate; dr: CfnTemplate }> {
  const hash = createHash('sha256').update(JSON.stringify([PARAMS, DR_PARAMS]));
  for (const file of INPUTS) hash.update(await readFile(join(root, file)));
  const dir = join(root, 'node_modules/.cache/s3-dr');
  const cached = join(dir, `iam-templates-${hash.digest('hex').slice(0, 16)}.json`);
  try {
    return JSON.parse(await readFile(cached, 'utf8')) as { primary: CfnTemplate; dr: CfnTemplate };
  } catch {
    const primary = await packageTemplate('dev', PARAMS);
    const dr = await packageTemplate('dev', DR_PARAMS);
    await mkdir(dir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ primary, dr }));
    await rename(tmp, cached);
    return { primary, dr };
  }
}

export interface IamWorld {
  stacks: Stack[];
  roles: FunctionRole[];
  policies: ResourcePolicies;
  /**
   * Which key encrypts what: the DR bucket and the queues as the templates configure them; the source
   * bucket (which s3-dr does not create) with the key its objects are said to use, SOURCE_KEY.
   */
  encryption: EncryptionWorld;
  /** Where each function's role lives (the primary stack; restore in the dr stack too). */
  primary: CfnTemplate;
}

export async function iamWorld(): Promise<IamWorld> {
  const { primary, dr } = await packagedTemplates();
  const fnEnv = (t: CfnTemplate) =>
    get(t.Resources.RestoreLambdaFunction?.Properties, 'Environment', 'Variables') as Record<string, unknown>;
  const region = (t: CfnTemplate, name: string) => String(fnEnv(t)[name]);
  const stacks: Stack[] = [
    { name: 'primary', template: primary, region: region(primary, 'S3DR_SOURCE_REGION'), account: ACCOUNT },
    { name: 'dr', template: dr, region: region(dr, 'S3DR_DR_REGION'), account: ACCOUNT },
  ];
  const atRest = keysAtRest(stacks);
  return {
    stacks,
    roles: stacks.flatMap(functionRoles),
    policies: new ResourcePolicies(stacks),
    primary,
    encryption: {
      bucketKey: (bucket) => atRest.buckets.get(bucket) ?? (bucket === SOURCE ? SOURCE_KEY : undefined),
      queueKey: (arn) => atRest.queues.get(arn),
      region: {
        s3: (bucket) => (bucket === DR ? stacks[1] : stacks[0])?.region ?? '',
        sqs: (arn) => arn.split(':')[3] ?? '',
      },
    },
  };
}

export interface Evaluated<C extends RecordedCall = RecordedCall> {
  role: FunctionRole;
  call: C;
  req: Requirement;
  decision: Decision;
}

/**
 * Every call of a function, checked against that function's role in every stack that has it.
 * Identical authorisations (same role, action, resource and context) are evaluated once.
 */
export async function evaluateCalls<C extends RecordedCall>(
  calls: C[],
  world: IamWorld,
): Promise<Evaluated<C>[]> {
  const out: Evaluated<C>[] = [];
  const decisions = new Map<string, Promise<Decision>>();
  for (const role of world.roles) {
    for (const call of calls.filter((c) => c.fn === role.fn && sameStackQueue(c, role))) {
      for (const req of requiredPermissions(call, world.encryption)) {
        const key = JSON.stringify([role.stack, role.roleId, req.action, req.resource, req.context]);
        let decision = decisions.get(key);
        if (!decision) {
          decision = evaluate(role, req, world.policies, ACCOUNT);
          decisions.set(key, decision);
        }
        out.push({ role, call, req, decision: await decision });
      }
    }
  }
  return out;
}

/**
 * Each stack has its own job queue (`…-primary-jobs`, `…-dr-jobs`): a request to one is made by that
 * stack's functions only, so it is not held against the other stack's role.
 */
function sameStackQueue(call: RecordedCall, role: FunctionRole): boolean {
  const queue = /-(primary|dr)-jobs(-dlq)?$/.exec(String(call.input.QueueUrl ?? ''));
  return !queue || queue[1] === role.stack;
}

export const describeCall = (e: Pick<Evaluated, 'role' | 'call' | 'req'>) =>
  `${e.role.fn} (${e.role.stack} stack, ${e.role.roleArn}): ${e.call.operation} ${JSON.stringify(
    e.call.input.Bucket ?? e.call.input.QueueUrl,
  )}/${String(e.call.input.Key ?? '')} needs ${e.req.action} on ${e.req.resource} (${e.req.because})`;
