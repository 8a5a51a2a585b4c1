/**
 * Runs the Serverless Framework (osls) the way a user does — `sls package` / `sls print`, offline and
 * without AWS credentials — and loads what it produced, plus a small evaluator for the template's
 * Conditions and Fn::If so tests can assert what CloudFormation would actually create.
 */
import { copyFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from './run-process.ts';
import { scaled } from './time-scale.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const slsBin = join(root, 'node_modules/osls/bin/serverless.js');

export interface CfnResource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  Conditions?: Record<string, unknown>;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
}

export interface SlsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user with no AWS access: no credentials, profile or endpoint (osls would send
 * its own calls to AWS_ENDPOINT_URL), and none of the variables the unit-test setup sets for handlers.
 */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(AWS_|S3DR_|POWERTOOLS_)/.test(name) || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return {
    ...env,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * A bound on one `sls` run, only so that a hung framework cannot hang the suite: `sls package` takes
 * seconds on a quiet machine but over a minute on a busy one, so the bound is far above either, and
 * scales with the machine (tests/helpers/time-scale.ts).
 */
export const SLS_TIMEOUT_MS = scaled(8 * 60_000);

/**
 * How many `sls` runs of one jest process go at once (S3DR_SLS_CONCURRENCY, default 2). A run is a few
 * seconds of CPU — resolving serverless.yml, then bundling — in one process, so a file that starts all
 * its runs together keeps both cores of a 2-core CI machine busy; more at once would only share them.
 */
const SLS_CONCURRENCY = Math.max(1, Number(process.env.S3DR_SLS_CONCURRENCY ?? 2) || 1);
let slsRunning = 0;
const slsWaiting: (() => void)[] = [];

/** Runs `run` when one of the SLS_CONCURRENCY slots is free; a finished run hands its slot on. */
async function inSlsSlot<T>(run: () => Promise<T>): Promise<T> {
  if (slsRunning < SLS_CONCURRENCY) slsRunning += 1;
  else await new Promise<void>((resolve) => slsWaiting.push(resolve));
  try {
    return await run();
  } finally {
    const next = slsWaiting.shift();
    if (next) next();
    else slsRunning -= 1;
  }
}

/**
 * Runs `sls <args>` with the Node that runs the tests (v22 under npm), from the project root, and resolves
 * with its exit code and output. A run killed at the bound rejects with "… timed out after N s" and the
 * output so far (tests/helpers/run-process.ts), rather than passing for a framework error with an empty
 * message. The bound counts from the start of the run, not from the wait for a slot (SLS_CONCURRENCY).
 */
export function runSls(
  args: string[],
  timeoutMs = SLS_TIMEOUT_MS,
  extraEnv: Record<string, string> = {},
  cwd = root,
): Promise<SlsResult> {
  return inSlsSlot(async () => {
    const result = await runProcess(process.execPath, [slsBin, ...args], {
      cwd,
      env: { ...offlineEnv(), ...extraEnv },
      timeoutMs,
      check: false,
    });
    return { code: result.code ?? 1, stdout: result.stdout, stderr: result.stderr };
  });
}

const paramArgs = (params: Record<string, string>) =>
  Object.entries(params).map(([k, v]) => `--param=${k}=${v}`);

/**
 * A service folder of its own for one `sls package` run: the configuration copied (osls wants the file
 * itself), the sources and node_modules linked. osls deletes `<service>/.serverless/` when a package run
 * starts and writes its state there whatever `--package` says, so runs sharing the checkout (two at a
 * time here, and `npm run lint:cfn` beside the tests in .ci/run) deleted each other's state mid-write.
 */
async function serviceFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3dr-service-'));
  for (const f of ['serverless.yml', 'package.json', 'tsconfig.json'])
    await copyFile(join(root, f), join(dir, f));
  for (const f of ['node_modules', 'functions', 'lib', 'scripts']) await symlink(join(root, f), join(dir, f));
  return dir;
}

/**
 * `sls package --stage <stage>` into a temporary directory, from a service folder of its own
 * ({@link serviceFolder}); returns the CloudFormation template.
 */
export async function packageTemplate(
  stage: string,
  params: Record<string, string> = {},
): Promise<CfnTemplate> {
  const dir = await mkdtemp(join(tmpdir(), 's3dr-package-'));
  const service = await serviceFolder();
  try {
    const result = await runSls(
      ['package', '--stage', stage, '--package', dir, ...paramArgs(params)],
      SLS_TIMEOUT_MS,
      {},
      service,
    );
    if (result.code !== 0) {
      throw new Error(
        `sls package --stage ${stage} failed (${result.code}):\n${result.stdout}\n${result.stderr}`,
      );
    }
    return JSON.parse(
      await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as CfnTemplate;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(service, { recursive: true, force: true });
  }
}

/** `sls print --stage <stage> --format json`, parsed. */
export async function printConfig(
  stage: string,
  params: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const result = await runSls(['print', '--stage', stage, '--format', 'json', ...paramArgs(params)]);
  if (result.code !== 0) throw new Error(`sls print --stage ${stage} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as Record<string, unknown>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `get(x, 'a', 0, 'b')` is `x.a[0].b`, or undefined anywhere along the way. */
export function get(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') current = Array.isArray(current) ? current[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

/** The resource, or an error naming the ones that exist. */
export function resource(template: CfnTemplate, logicalId: string): CfnResource {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`no resource ${logicalId}; have ${Object.keys(template.Resources).join(', ')}`);
  return found;
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** Evaluates a Condition of the template. Parameters are resolved at package time, so all are literal. */
export function condition(template: CfnTemplate, name: string): boolean {
  const evaluate = (expr: unknown): unknown => {
    if (!isRecord(expr)) return expr;
    const [fn, args] = Object.entries(expr)[0] ?? [];
    const list = Array.isArray(args) ? args : [args];
    switch (fn) {
      case 'Fn::Equals':
        return JSON.stringify(evaluate(list[0])) === JSON.stringify(evaluate(list[1]));
      case 'Fn::Not':
        return !evaluate(list[0]);
      case 'Fn::And':
        return list.every((x) => evaluate(x) === true);
      case 'Fn::Or':
        return list.some((x) => evaluate(x) === true);
      case 'Condition':
        return condition(template, String(args));
      default:
        throw new Error(`cannot evaluate ${JSON.stringify(expr)} in condition ${name}`);
    }
  };
  const expr = template.Conditions?.[name];
  if (expr === undefined) throw new Error(`no condition ${name}`);
  return evaluate(expr) === true;
}

const NO_VALUE = Symbol('AWS::NoValue');

/** A value with every Fn::If decided and AWS::NoValue removed: what CloudFormation would use. */
export function effective<T>(template: CfnTemplate, value: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk).filter((x) => x !== NO_VALUE);
    if (!isRecord(v)) return v;
    if (get(v, 'Ref') === 'AWS::NoValue') return NO_VALUE;
    const branches = v['Fn::If'];
    if (Array.isArray(branches) && Object.keys(v).length === 1) {
      return walk(condition(template, String(branches[0])) ? branches[1] : branches[2]);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const w = walk(x);
      if (w !== NO_VALUE) out[k] = w;
    }
    return out;
  };
  return walk(value) as T;
}

/** Logical ids of the resources CloudFormation would create (their Condition, if any, is true). */
export function createdResources(template: CfnTemplate): string[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Condition === undefined || condition(template, r.Condition))
    .map(([id]) => id);
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: unknown;
}

export interface FoundPolicy {
  /** Logical id of the resource holding the policy. */
  owner: string;
  kind: 'identity' | 'resource';
  statements: PolicyStatement[];
}

/** Every policy document in the template: role inline policies, IAM policies, bucket/queue/topic policies. */
export function allPolicies(template: CfnTemplate): FoundPolicy[] {
  const found: FoundPolicy[] = [];
  const statementsOf = (doc: unknown): PolicyStatement[] => {
    const s = get(doc, 'Statement');
    return (Array.isArray(s) ? s : [s]).filter(isRecord) as unknown as PolicyStatement[];
  };
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::IAM::Role') {
      const policies = get(r.Properties, 'Policies');
      for (const p of Array.isArray(policies) ? policies : []) {
        found.push({ owner: id, kind: 'identity', statements: statementsOf(get(p, 'PolicyDocument')) });
      }
    } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      found.push({
        owner: id,
        kind: 'identity',
        statements: statementsOf(get(r.Properties, 'PolicyDocument')),
      });
    } else if (/^AWS::(S3::BucketPolicy|SQS::QueuePolicy|SNS::TopicPolicy|KMS::Key)$/.test(r.Type)) {
      const doc = get(r.Properties, r.Type === 'AWS::KMS::Key' ? 'KeyPolicy' : 'PolicyDocument');
      found.push({ owner: id, kind: 'resource', statements: statementsOf(doc) });
    }
  }
  return found;
}

export const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Statements of a function's own role (serverless-iam-roles-per-function), by Sid. */
export function roleStatements(template: CfnTemplate, fn: string): Map<string, PolicyStatement> {
  const roleId = `${fn[0]?.toUpperCase()}${fn.slice(1)}IamRoleLambdaExecution`;
  const statements = allPolicies(template)
    .filter((p) => p.owner === roleId)
    .flatMap((p) => p.statements);
  if (statements.length === 0) throw new Error(`no statements in ${roleId}`);
  return new Map(statements.map((s, i) => [s.Sid ?? `#${i}`, s]));
}

/** Every Ref / Fn::GetAtt / Fn::Sub / DependsOn target in a value. */
export function referencedIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    if (!isRecord(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string') ids.add(x);
      else if (k === 'Fn::GetAtt' && Array.isArray(x)) ids.add(String(x[0]));
      else if (k === 'Fn::GetAtt' && typeof x === 'string') ids.add(x.split('.')[0] ?? x);
      else if (k === 'Fn::Sub') {
        const text = Array.isArray(x) ? x[0] : x;
        for (const m of String(text).matchAll(/\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}/g)) if (m[1]) ids.add(m[1]);
        walk(x);
      } else if (k === 'DependsOn') {
        for (const d of asList(x as string | string[])) ids.add(d);
      } else walk(x);
    }
  };
  walk(value);
  return ids;
}
