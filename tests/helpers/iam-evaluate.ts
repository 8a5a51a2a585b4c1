/**
 * The packaged CloudFormation templates as an IAM policy model — each function's role (by ARN, with its
 * statements), the bucket and queue policies, the KMS key policies — and a check of one request
 * against it with @cloud-copilot/iam-simulate, an offline implementation of AWS's policy evaluation
 * logic (identity policies, resource policies, KMS key policies, explicit denies, condition keys).
 *
 * Everything is read from the templates, with CloudFormation's intrinsic functions resolved for a
 * given account: no policy is written down here, so the evaluation follows serverless.yml and
 * scripts/serverless-events.cjs as they change.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { queueArnOf, type RecordedCall, type Requirement } from './iam-actions.ts';
import {
  asList,
  type CfnTemplate,
  createdResources,
  effective,
  get,
  type PolicyStatement,
} from './template.ts';

/** One packaged stack and where CloudFormation would create it. */
export interface Stack {
  name: string;
  template: CfnTemplate;
  region: string;
  account: string;
}

export interface RoleStatement {
  /** `<role logical id>/<Sid or #index>`: names the statement in messages and usage reports. */
  id: string;
  statement: PolicyStatement;
}

export interface FunctionRole {
  /** Function name as serverless.yml has it (`replicate`). */
  fn: string;
  stack: string;
  roleId: string;
  roleArn: string;
  statements: RoleStatement[];
}

type Doc = { Version: string; Statement: PolicyStatement[] };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const queueUrlOf = (arn: string) => {
  const [, , , region, account, name] = arn.split(':');
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
};

/** The value CloudFormation would compute: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, pseudo parameters. */
export function resolve(stack: Stack, value: unknown): unknown {
  const t = stack.template;
  const pseudo: Record<string, string> = {
    'AWS::Region': stack.region,
    'AWS::AccountId': stack.account,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': stack.name,
  };
  const props = (id: string) => {
    const r = t.Resources[id];
    if (!r) throw new Error(`${stack.name}: reference to unknown resource ${id}`);
    return { type: r.Type, p: (r.Properties ?? {}) as Record<string, unknown> };
  };
  const ref = (id: string): string => {
    if (pseudo[id] !== undefined) return pseudo[id];
    const { type, p } = props(id);
    if (type === 'AWS::S3::Bucket') return String(walk(p.BucketName));
    if (type === 'AWS::SQS::Queue') {
      return `https://sqs.${stack.region}.amazonaws.com/${stack.account}/${String(walk(p.QueueName))}`;
    }
    if (type === 'AWS::IAM::Role') return String(walk(p.RoleName));
    if (type === 'AWS::Lambda::Function') return String(walk(p.FunctionName));
    throw new Error(`${stack.name}: cannot resolve Ref ${id} (${type})`);
  };
  const getAtt = (id: string, attr: string): string => {
    const { type, p } = props(id);
    if (attr === 'Arn' && type === 'AWS::SQS::Queue') return queueArnOf(ref(id));
    if (attr === 'Arn' && type === 'AWS::S3::Bucket') return `arn:aws:s3:::${ref(id)}`;
    if (attr === 'Arn' && type === 'AWS::IAM::Role') {
      return `arn:aws:iam::${stack.account}:role${String(walk(p.Path ?? '/'))}${ref(id)}`;
    }
    if (attr === 'Arn' && type === 'AWS::Lambda::Function') {
      return `arn:aws:lambda:${stack.region}:${stack.account}:function:${ref(id)}`;
    }
    throw new Error(`${stack.name}: cannot resolve Fn::GetAtt ${id}.${attr} (${type})`);
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!isRecord(v)) return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [fn] = keys;
      const arg = v[fn as string];
      if (fn === 'Ref') return ref(String(arg));
      if (fn === 'Fn::GetAtt') {
        const [id, attr] = Array.isArray(arg) ? arg.map(String) : String(arg).split('.');
        return getAtt(String(id), String(attr));
      }
      if (fn === 'Fn::Join') {
        const [sep, items] = arg as [string, unknown[]];
        return (walk(items) as unknown[]).join(sep);
      }
      if (fn === 'Fn::Sub') {
        const [text, vars] = Array.isArray(arg)
          ? (arg as [string, Record<string, unknown>])
          : [String(arg), {}];
        return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
          if (vars[name] !== undefined) return String(walk(vars[name]));
          const [id, attr] = name.split('.');
          return attr ? getAtt(String(id), attr) : ref(name);
        });
      }
      if (fn?.startsWith('Fn::')) throw new Error(`${stack.name}: cannot resolve ${fn}`);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(effective(t, value));
}

const statementsOf = (doc: unknown): PolicyStatement[] =>
  asList(get(doc, 'Statement') as PolicyStatement | PolicyStatement[] | undefined);

/** The roles of the functions s3-dr deploys (handlers under functions/), with their resolved statements. */
export function functionRoles(stack: Stack): FunctionRole[] {
  const t = stack.template;
  const created = new Set(createdResources(t));
  const roles: FunctionRole[] = [];
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function' || !created.has(id)) continue;
    if (!String(get(r.Properties, 'Handler')).startsWith('functions/')) continue;
    const roleRef = get(r.Properties, 'Role', 'Fn::GetAtt');
    const roleId = Array.isArray(roleRef) ? String(roleRef[0]) : undefined;
    if (!roleId) throw new Error(`${stack.name}: ${id} has no role of its own`);
    const roleArn = String(resolve(stack, r.Properties?.Role));
    const docs = asList(get(t.Resources[roleId]?.Properties, 'Policies') as unknown[]).map((p) =>
      get(p, 'PolicyDocument'),
    );
    // Policies attached to the role from outside it (AWS::IAM::Policy with Roles: [Ref role]).
    for (const [pid, p] of Object.entries(t.Resources)) {
      if (p.Type !== 'AWS::IAM::Policy' || !created.has(pid)) continue;
      const attached = asList(get(p.Properties, 'Roles') as unknown[]).some((x) => get(x, 'Ref') === roleId);
      if (attached) docs.push(get(p.Properties, 'PolicyDocument'));
    }
    const statements = docs
      .flatMap((d) => statementsOf(resolve(stack, d)))
      .map((statement, i) => ({ id: `${roleId}/${statement.Sid ?? `#${i}`}`, statement }));
    const fn = id.replace(/LambdaFunction$/, '');
    roles.push({
      fn: `${fn[0]?.toLowerCase()}${fn.slice(1)}`,
      stack: stack.name,
      roleId,
      roleArn,
      statements,
    });
  }
  return roles;
}

/**
 * The KMS keys the stacks encrypt with: buckets with SSE-KMS default encryption (BucketEncryption
 * KMSMasterKeyID) and queues with SSE-KMS (KmsMasterKeyId), by bucket name and queue ARN.
 */
export function keysAtRest(stacks: Stack[]): { buckets: Map<string, string>; queues: Map<string, string> } {
  const buckets = new Map<string, string>();
  const queues = new Map<string, string>();
  for (const stack of stacks) {
    const created = new Set(createdResources(stack.template));
    for (const [id, r] of Object.entries(stack.template.Resources)) {
      if (!created.has(id) || !['AWS::S3::Bucket', 'AWS::SQS::Queue'].includes(r.Type)) continue;
      const p = resolve(stack, r.Properties ?? {});
      if (r.Type === 'AWS::S3::Bucket') {
        const rules = asList(get(p, 'BucketEncryption', 'ServerSideEncryptionConfiguration') as unknown[]);
        for (const rule of rules) {
          const key = get(rule, 'ServerSideEncryptionByDefault', 'KMSMasterKeyID');
          if (typeof key === 'string') buckets.set(String(get(p, 'BucketName')), key);
        }
      } else if (r.Type === 'AWS::SQS::Queue' && typeof get(p, 'KmsMasterKeyId') === 'string') {
        queues.set(String(resolve(stack, { 'Fn::GetAtt': [id, 'Arn'] })), String(get(p, 'KmsMasterKeyId')));
      }
    }
  }
  return { buckets, queues };
}

/**
 * Requests Lambda itself makes with a function's execution role, read from the template: an SQS event
 * source mapping polls, deletes and reads the queue's attributes ("Lambda execution role permissions"
 * in "Using Lambda with Amazon SQS": sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes), and
 * an asynchronous invocation's on-failure destination on SQS is sent with sqs:SendMessage ("Adding a
 * destination", Lambda developer guide).
 */
export function platformCalls(stack: Stack): RecordedCall[] {
  const t = stack.template;
  const created = new Set(createdResources(t));
  const calls: RecordedCall[] = [];
  const fnOf = (value: unknown) => {
    const id = String(get(value, 'Fn::GetAtt', 0) ?? get(value, 'Ref'));
    const name = id.replace(/LambdaFunction$/, '');
    return `${name[0]?.toLowerCase()}${name.slice(1)}`;
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    if (!created.has(id)) continue;
    if (r.Type === 'AWS::Lambda::EventSourceMapping') {
      const source = String(resolve(stack, get(r.Properties, 'EventSourceArn')));
      if (!source.startsWith('arn:aws:sqs:')) continue;
      const fn = fnOf(get(r.Properties, 'FunctionName'));
      for (const operation of ['ReceiveMessage', 'DeleteMessageBatch', 'GetQueueAttributes']) {
        calls.push({ fn, service: 'sqs', operation, input: { QueueUrl: queueUrlOf(source) } });
      }
    }
    if (r.Type === 'AWS::Lambda::EventInvokeConfig') {
      const destination = resolve(stack, get(r.Properties, 'DestinationConfig', 'OnFailure', 'Destination'));
      if (typeof destination !== 'string' || !destination.startsWith('arn:aws:sqs:')) continue;
      const fn = fnOf(get(r.Properties, 'FunctionName'));
      calls.push({
        fn,
        service: 'sqs',
        operation: 'SendMessage',
        input: { QueueUrl: queueUrlOf(destination) },
      });
    }
  }
  return calls;
}

/**
 * Resource policies of every stack, by what they protect. KMS keys s3-dr does not create (their ARNs
 * are parameters) get the default key policy, which delegates to IAM policies in the key's account
 * (AWS KMS developer guide, "Default key policy": `"Principal": {"AWS": "arn:aws:iam::<account>:root"}`,
 * `kms:*`); a key declared in a template is checked against its own KeyPolicy.
 */
export class ResourcePolicies {
  private readonly buckets = new Map<string, Doc>();
  private readonly queues = new Map<string, Doc>();
  private readonly keys = new Map<string, Doc>();

  constructor(stacks: Stack[]) {
    for (const stack of stacks) {
      const created = new Set(createdResources(stack.template));
      for (const [id, r] of Object.entries(stack.template.Resources)) {
        if (!created.has(id)) continue;
        if (r.Type === 'AWS::S3::BucketPolicy') {
          const bucket = String(resolve(stack, get(r.Properties, 'Bucket')));
          this.buckets.set(bucket, resolve(stack, get(r.Properties, 'PolicyDocument')) as Doc);
        } else if (r.Type === 'AWS::SQS::QueuePolicy') {
          for (const url of asList(resolve(stack, get(r.Properties, 'Queues')) as string[])) {
            this.queues.set(queueArnOf(url), resolve(stack, get(r.Properties, 'PolicyDocument')) as Doc);
          }
        } else if (r.Type === 'AWS::KMS::Key') {
          const arn = `arn:aws:kms:${stack.region}:${stack.account}:key/${id}`;
          this.keys.set(arn, resolve(stack, get(r.Properties, 'KeyPolicy')) as Doc);
        }
      }
    }
  }

  /** Names the policy {@link forResource} returns, for messages. */
  labelFor(arn: string): string {
    if (arn.startsWith('arn:aws:s3:::')) return `the bucket policy of ${arn.slice(13).split('/')[0]}`;
    if (arn.startsWith('arn:aws:sqs:')) return `the queue policy of ${arn.split(':')[5]}`;
    return `the key policy of ${arn}`;
  }

  /** The policy that governs requests on this resource ARN, if any. */
  forResource(arn: string): Doc | undefined {
    if (arn.startsWith('arn:aws:s3:::')) return this.buckets.get(arn.slice(13).split('/')[0] ?? '');
    if (arn.startsWith('arn:aws:sqs:')) return this.queues.get(arn);
    if (arn.startsWith('arn:aws:kms:')) {
      const account = arn.split(':')[4];
      return (
        this.keys.get(arn) ?? {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'Enable IAM User Permissions',
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${account}:root` },
              Action: 'kms:*',
              Resource: '*',
            },
          ],
        }
      );
    }
    return undefined;
  }
}

export interface Decision {
  result: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
  /** Ids of the role statements that allowed it. */
  allowedBy: string[];
  /** What decided a denial: the denying statements, or "no statement allows". */
  reason: string;
}

/**
 * Evaluates one request by `role` the way AWS would: its identity policy (each statement a policy of its
 * own, so the report can say which allowed), the resource's policy, and the request context of a
 * Lambda function calling over HTTPS in its own account.
 */
export async function evaluate(
  role: FunctionRole,
  req: Requirement,
  policies: ResourcePolicies,
  account: string,
  statements: RoleStatement[] = role.statements,
): Promise<Decision> {
  const resourceAccount = req.resource.startsWith('arn:aws:s3:::')
    ? account
    : (req.resource.split(':')[4] ?? account);
  const response = await runSimulation(
    {
      request: {
        principal: role.roleArn,
        action: req.action,
        resource: { resource: req.resource, accountId: resourceAccount },
        contextVariables: {
          'aws:SecureTransport': 'true',
          'aws:PrincipalArn': role.roleArn,
          'aws:PrincipalAccount': account,
          'aws:PrincipalType': 'AssumedRole',
          'aws:ResourceAccount': resourceAccount,
          ...(req.action.startsWith('s3:') ? { 's3:ResourceAccount': resourceAccount } : {}),
          ...(req.action.startsWith('kms:') ? { 'kms:CallerAccount': account } : {}),
          ...(req.context ?? {}),
        },
      },
      identityPolicies: statements.map((s) => ({
        name: s.id,
        policy: { Version: '2012-10-17', Statement: [s.statement] },
      })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(policies.forResource(req.resource) ? { resourcePolicy: policies.forResource(req.resource) } : {}),
    },
    {},
  );
  if (response.resultType === 'error') {
    throw new Error(
      `iam-simulate rejected the request ${req.action} ${req.resource}: ${JSON.stringify(response.errors)}`,
    );
  }
  const analyses =
    response.resultType === 'single' ? [response.result.analysis] : response.results.map((r) => r.analysis);
  const allowedBy = analyses.flatMap(
    (a) => a?.identityAnalysis?.allowStatements.map((s) => s.policyId) ?? [],
  );
  const denies = analyses.flatMap((a) => [
    ...(a?.identityAnalysis?.denyStatements.map((s) => `identity ${s.policyId}`) ?? []),
    ...(a?.resourceAnalysis?.denyStatements.map(
      (s) =>
        `${policies.labelFor(req.resource)}, statement ${s.statement.sid() ?? `#${s.statement.index()}`}`,
    ) ?? []),
  ]);
  const reason =
    denies.length > 0
      ? `explicitly denied by ${denies.join(', ')}`
      : allowedBy.length === 0
        ? `no statement of ${role.roleId} allows it`
        : `allowed by ${allowedBy.join(', ')}`;
  return { result: response.overallResult, allowedBy, reason };
}
