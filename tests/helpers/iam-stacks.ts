/**
 * The stage the IAM evaluations judge — both stacks of `dev`, packaged offline with every optional
 * permission on — as a policy model, and the evaluation of recorded requests against it. Shared by the
 * unit evaluation (tests/package/iam-evaluation.test.ts) and the evaluation of what the integration suites
 * recorded (tests/iam/recorded-calls.test.ts): the templates are packaged once and cached under
 * node_modules/.cache by a hash of what they are made from, so the second never packages again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
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

/**
 * The same stage with the DR bucket in an account of its own (docs/security.md#moving-dr-to-its-own-account):
 * one set of stage parameters for both stacks, as a stage in serverless.yml would hold them — the
 * primary reads drAccountId and kmsKeyArn, the dr stack primaryAccountId and createDrKmsKey.
 */
export const DR_ACCOUNT = '222233334444';
export const DR_ACCOUNT_ADMIN = `arn:aws:iam::${DR_ACCOUNT}:role/s3dr-admin`;
/** The key the dr stack creates (createDrKmsKey), named as the evaluator names a template's key. */
export const DR_ACCOUNT_KEY = `arn:aws:kms:eu-central-1:${DR_ACCOUNT}:key/DrKmsKey`;
export const DR_ACCOUNT_PARAMS = {
  ...PARAMS,
  kmsKeyArn: DR_ACCOUNT_KEY,
  drAccountId: DR_ACCOUNT,
  primaryAccountId: ACCOUNT,
  createDrKmsKey: 'true',
  adminPrincipalArn: DR_ACCOUNT_ADMIN,
};

/** What the packaged templates are made of: a change to any of these packages them again. */
const INPUTS = ['serverless.yml', 'package-lock.json', 'lib/core/names.ts', 'lib/core/replication-rules.ts'];
/** The deployment resolver's modules: serverless.yml's computed values come from every one of them. */
const RESOLVER_DIR = 'scripts/deploy-resolver';

type StackPair = { primary: CfnTemplate; dr: CfnTemplate };

/**
 * `sls package` of both stacks with these parameters, or the copy cached for the same inputs and
 * parameters. Written to a temporary name and renamed, so a reader never sees half a file.
 */
async function cachedStackPair(
  name: string,
  primaryParams: Record<string, string>,
  drParams: Record<string, string>,
): Promise<StackPair> {
  const hash = createHash('sha256').update(JSON.stringify([primaryParams, drParams]));
  const resolver = (await readdir(join(root, RESOLVER_DIR))).sort().map((f) => `${RESOLVER_DIR}/${f}`);
  for (const file of [...INPUTS, ...resolver]) hash.update(await readFile(join(root, file)));
  const dir = join(root, 'node_modules/.cache/s3-dr');
  const cached = join(dir, `${name}-${hash.digest('hex').slice(0, 16)}.json`);
  try {
    return JSON.parse(await readFile(cached, 'utf8')) as StackPair;
  } catch {
    const [primary, dr] = await Promise.all([
      packageTemplate('dev', primaryParams),
      packageTemplate('dev', drParams),
    ]);
    await mkdir(dir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ primary, dr }));
    await rename(tmp, cached);
    return { primary, dr };
  }
}

/** Both stacks of the evaluated stage, in one account (the default). */
export function packagedTemplates(): Promise<StackPair> {
  return cachedStackPair('iam-templates', PARAMS, DR_PARAMS);
}

/** Both stacks of the evaluated stage with the DR bucket and its key in DR_ACCOUNT. */
export function drAccountTemplates(): Promise<StackPair> {
  return cachedStackPair('iam-templates-dr-account', DR_ACCOUNT_PARAMS, {
    ...DR_ACCOUNT_PARAMS,
    stackRole: 'dr',
  });
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

/** The single-account stage: both stacks in ACCOUNT. */
export async function iamWorld(): Promise<IamWorld> {
  return worldOf(await packagedTemplates(), { primary: ACCOUNT, dr: ACCOUNT });
}

/** The stage with the DR bucket in its own account: the primary stack in ACCOUNT, the dr stack in DR_ACCOUNT. */
export async function drAccountWorld(): Promise<IamWorld> {
  return worldOf(await drAccountTemplates(), { primary: ACCOUNT, dr: DR_ACCOUNT });
}

function worldOf({ primary, dr }: StackPair, accounts: { primary: string; dr: string }): IamWorld {
  const fnEnv = (t: CfnTemplate) =>
    get(t.Resources.RestoreLambdaFunction?.Properties, 'Environment', 'Variables') as Record<string, unknown>;
  const region = (t: CfnTemplate, name: string) => String(fnEnv(t)[name]);
  const stacks: Stack[] = [
    {
      name: 'primary',
      template: primary,
      region: region(primary, 'S3DR_SOURCE_REGION'),
      account: accounts.primary,
    },
    { name: 'dr', template: dr, region: region(dr, 'S3DR_DR_REGION'), account: accounts.dr },
  ];
  const atRest = keysAtRest(stacks);
  return {
    stacks,
    roles: stacks.flatMap(functionRoles),
    // The source bucket is the primary account's (s3-dr does not create it).
    policies: new ResourcePolicies(stacks, { [SOURCE]: accounts.primary }),
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

/** The account a function's role lives in: its stack's. */
export function accountOf(world: IamWorld, role: FunctionRole): string {
  const stack = world.stacks.find((s) => s.name === role.stack);
  if (!stack) throw new Error(`no stack ${role.stack}`);
  return stack.account;
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
    for (const call of calls.filter(
      (c) => c.fn === role.fn && sameStackQueue(c, role) && (!c.stack || c.stack === role.stack),
    )) {
      for (const req of requiredPermissions(call, world.encryption)) {
        const key = JSON.stringify([role.stack, role.roleId, req.action, req.resource, req.context]);
        let decision = decisions.get(key);
        if (!decision) {
          decision = evaluate(role, req, world.policies, accountOf(world, role));
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
