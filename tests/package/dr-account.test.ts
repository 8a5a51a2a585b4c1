/**
 * Issue #14, "Survive a compromised account": the dr stack in an account of its own. The templates are
 * packaged offline for both stack shapes — one account (the default) and the DR bucket in DR_ACCOUNT —
 * once each, and shared with tests/package/iam-evaluation.test.ts through the cache of
 * tests/helpers/iam-stacks.ts. Then:
 *
 * - the templates are read: no principal of the primary account is granted a version deletion, a policy,
 *   lifecycle, versioning or lock change on the DR bucket or its key, in any stack; every cross-account
 *   grant names the primary account and the exact ARN of one of its roles;
 * - the grants are evaluated (@cloud-copilot/iam-simulate): an administrator of the primary account —
 *   `*` on `*` in its own identity policy — is denied every destructive action on the DR bucket and key,
 *   and so are the primary's own roles widened the same way; the DR account's admin is not (the control
 *   that shows the evaluator denies for a reason);
 * - the parameters of the mode are checked at package time (the resolver, called as osls calls it).
 *
 * AWS behaviour relied on: a cross-account request needs an Allow in the principal's identity policy and
 * in the resource's policy, and an explicit Deny in either wins (IAM User Guide, "Cross-account policy
 * evaluation logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html);
 * a KMS key of another account is usable only when its key policy allows it, and only for the
 * cryptographic operations — a key-management action granted cross-account has no effect (AWS KMS
 * developer guide, "Allowing users in other accounts to use a KMS key",
 * https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html);
 * S3 resolves a key alias in the requester's account, so the primary names the DR key by ARN (S3 API
 * reference, ServerSideEncryptionByDefault KMSMasterKeyID); a COMPLIANCE retention cannot be shortened
 * or removed by any user, the root user included (S3 User Guide, "Object Lock retention modes").
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  evaluate,
  type FunctionRole,
  ResourcePolicies,
  resolve,
  type Stack,
} from '../helpers/iam-evaluate.ts';
import {
  ACCOUNT,
  ADMIN,
  DR,
  DR_ACCOUNT,
  DR_ACCOUNT_ADMIN,
  DR_ACCOUNT_KEY,
  DR_ACCOUNT_PARAMS,
  drAccountWorld,
  type IamWorld,
  iamWorld,
} from '../helpers/iam-stacks.ts';
import { resolver, stubResolveVariable } from '../helpers/resolver-stub.ts';
import {
  allPolicies,
  asList,
  effective,
  get,
  type PolicyStatement,
  SLS_TIMEOUT_MS,
} from '../helpers/template.ts';

/** What the issue forbids to every principal of the primary account, written here independently of the resolver. */
const FORBIDDEN_ON_BUCKET = [
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutLifecycleConfiguration',
  's3:PutBucketVersioning',
  's3:PutBucketObjectLockConfiguration',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
];
/** The ones authorised on an object (Service Authorization Reference for S3, resource type "object"). */
const ON_OBJECTS = [
  's3:DeleteObjectVersion',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
];
const FORBIDDEN_ON_KEY = [
  'kms:PutKeyPolicy',
  'kms:ScheduleKeyDeletion',
  'kms:DisableKey',
  'kms:CreateGrant',
  'kms:DisableKeyRotation',
];

/** Both shapes, each as its primary and dr stack with their accounts. */
let single: IamWorld;
let split: IamWorld;

beforeAll(async () => {
  single = await iamWorld();
  split = await drAccountWorld();
  // Up to four `sls package` runs when the cache is cold, each bounded by SLS_TIMEOUT_MS.
}, 4 * SLS_TIMEOUT_MS);

const shapes = () =>
  [
    ['single account', single],
    ['DR account', split],
  ] as const;
const stackOf = (w: IamWorld, name: 'primary' | 'dr') => w.stacks.find((s) => s.name === name) as Stack;

/** IAM's action matching: `*` any run of characters, `?` one, case-insensitive. */
const matches = (pattern: string, action: string) =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  ).test(action);
const grants = (st: PolicyStatement, action: string) =>
  st.Effect === 'Allow' && asList(st.Action as string | string[]).some((a) => matches(a, action));

/** Every statement of every policy a stack creates, with the resolved (account-specific) values. */
function resolvedPolicies(stack: Stack) {
  return allPolicies(effective(stack.template, stack.template)).map((p) => ({
    ...p,
    statements: p.statements.map((st) => resolve(stack, st) as PolicyStatement),
  }));
}
const principalsOf = (st: PolicyStatement): string[] =>
  st.Principal === '*' ? ['*'] : asList(get(st.Principal, 'AWS') as string | string[] | undefined);
const touchesDrBucket = (st: PolicyStatement) =>
  asList(st.Resource as string | string[]).some(
    (r) => r === '*' || r === `arn:aws:s3:::${DR}` || String(r).startsWith(`arn:aws:s3:::${DR}/`),
  );

describe('templates: what the primary account may do to the DR bucket and key', () => {
  it('grants no role of the primary stack a destructive action on the DR bucket or any key', () => {
    for (const [shape, w] of shapes()) {
      const offending: string[] = [];
      for (const p of resolvedPolicies(stackOf(w, 'primary')).filter((x) => x.kind === 'identity')) {
        for (const st of p.statements) {
          const onKey = asList(st.Resource as string | string[]).some((r) => String(r).includes(':kms:'));
          const actions = [
            ...(touchesDrBucket(st) ? FORBIDDEN_ON_BUCKET : []),
            ...(onKey ? FORBIDDEN_ON_KEY : []),
          ];
          for (const action of actions)
            if (grants(st, action)) offending.push(`${p.owner}/${st.Sid} ${action}`);
        }
      }
      expect({ shape, offending }).toEqual({ shape, offending: [] });
    }
  });

  it('grants the primary account nothing destructive in the dr stack’s bucket and key policies', () => {
    for (const [shape, w] of shapes()) {
      const primaryAccount = stackOf(w, 'primary').account;
      const offending: string[] = [];
      for (const p of resolvedPolicies(stackOf(w, 'dr')).filter((x) => x.kind === 'resource')) {
        for (const st of p.statements) {
          const principals = principalsOf(st);
          const reachesPrimary = principals.some((x) => x === '*' || x.split(':')[4] === primaryAccount);
          if (!reachesPrimary || st.Effect !== 'Allow') continue;
          // The single-account key policy delegates to IAM in its own account: judged on the roles above.
          if (shape === 'single account') continue;
          for (const action of [...FORBIDDEN_ON_BUCKET, ...FORBIDDEN_ON_KEY]) {
            if (grants(st, action)) offending.push(`${p.owner}/${st.Sid} ${action}`);
          }
        }
      }
      expect({ shape, offending }).toEqual({ shape, offending: [] });
    }
  });

  it('names the primary account and the exact ARN of one of its roles in every cross-account grant', () => {
    const primaryRoles = new Set(split.roles.filter((r) => r.stack === 'primary').map((r) => r.roleArn));
    const crossAccount: string[] = [];
    for (const p of resolvedPolicies(stackOf(split, 'dr')).filter((x) => x.kind === 'resource')) {
      for (const st of p.statements.filter((x) => x.Effect === 'Allow')) {
        const principals = principalsOf(st);
        if (principals.every((x) => x.split(':')[4] === DR_ACCOUNT)) continue;
        crossAccount.push(`${p.owner}/${st.Sid}`);
        // No `*` principal, no other account: the primary account, by its root ARN (IAM delegates to
        // the condition below which of its principals it is).
        expect({ sid: st.Sid, principals }).toEqual({
          sid: st.Sid,
          principals: [`arn:aws:iam::${ACCOUNT}:root`],
        });
        const named = asList(get(st.Condition, 'ArnEquals', 'aws:PrincipalArn') as string | string[]);
        expect({ sid: st.Sid, named }).toEqual({ sid: st.Sid, named: [expect.any(String)] });
        for (const arn of named) {
          expect(arn).not.toMatch(/[*?]/);
          expect(primaryRoles).toContain(arn);
        }
        // ArnEquals is the only way the statement names its principal: no ArnLike/StringLike around it.
        expect(Object.keys(st.Condition as object).filter((k) => /Like/.test(k))).toEqual([]);
      }
    }
    expect(crossAccount.length).toBeGreaterThan(6);
    expect(crossAccount).toEqual(
      expect.arrayContaining([
        'DrBucketPolicy/PrimaryReplicateWriteDrObjects',
        'DrBucketPolicy/PrimaryJobWorkerWriteVerifierState',
        'DrBucketPolicy/PrimaryJobWorkerReadDrObjectVersions',
        'DrKmsKey/PrimaryReplicateUsesKeyThroughS3',
      ]),
    );
  });

  it('names the roles the primary stack really creates (the plugin’s names for the stage and source region)', () => {
    const dr = stackOf(split, 'dr');
    const named = new Set(
      resolvedPolicies(dr)
        .flatMap((p) => p.statements)
        .flatMap((st) => asList(get(st.Condition, 'ArnEquals', 'aws:PrincipalArn') as string | string[]))
        .filter((arn) => arn.split(':')[4] === ACCOUNT),
    );
    const created = split.roles
      .filter((r) => r.stack === 'primary' && r.fn !== 'ingest')
      .map((r) => r.roleArn);
    expect([...named].sort()).toEqual(created.sort());
    expect(created).toContain(`arn:aws:iam::${ACCOUNT}:role/s3-dr-dev-replicate-eu-west-1-lambdaRole`);
  });

  it('grants each primary role on the DR bucket exactly its own role’s statements there', () => {
    const primary = stackOf(split, 'primary');
    const policy = resolvedPolicies(stackOf(split, 'dr')).find((p) => p.owner === 'DrBucketPolicy');
    const granted = (policy?.statements ?? []).filter((st) => String(st.Sid).startsWith('Primary'));
    for (const st of granted) {
      const role = split.roles.find(
        (r) => r.stack === 'primary' && r.roleArn === get(st.Condition, 'ArnEquals', 'aws:PrincipalArn'),
      ) as FunctionRole;
      const own = role.statements.find(
        (s) => `Primary${role.fn[0]?.toUpperCase()}${role.fn.slice(1)}${s.statement.Sid}` === st.Sid,
      );
      expect({ sid: st.Sid, action: st.Action }).toEqual({ sid: st.Sid, action: own?.statement.Action });
      const ownResources = asList(resolve(primary, own?.statement.Resource) as string | string[]);
      for (const r of asList(st.Resource as string | string[])) expect(ownResources).toContain(r);
    }
    expect(
      new Set(granted.map((st) => String(st.Sid).match(/^Primary(Replicate|Verify|Restore|JobWorker)/)?.[1])),
    ).toEqual(new Set(['Replicate', 'Verify', 'Restore', 'JobWorker']));
  });

  it('keeps the grown bucket and key policies inside S3’s and KMS’s size limits', () => {
    // S3 User Guide, "Bucket policies and user policies": bucket policies are limited to 20 KB. AWS KMS
    // developer guide, "Key policies": a key policy document is at most 32 KB. Each function that
    // reaches the DR bucket adds its statements here, so the margin is checked, not assumed.
    const dr = stackOf(split, 'dr');
    const size = (id: string, property: string) =>
      JSON.stringify(resolve(dr, get(dr.template.Resources[id]?.Properties, property))).length;
    expect(size('DrBucketPolicy', 'PolicyDocument')).toBeLessThan(20 * 1024);
    expect(size('DrBucketPolicy', 'PolicyDocument')).toBeGreaterThan(4 * 1024);
    expect(size('DrKmsKey', 'KeyPolicy')).toBeLessThan(32 * 1024);
  });

  it('locks every DR version in COMPLIANCE mode by default in the DR account, and encrypts with the key it keeps', () => {
    const dr = stackOf(split, 'dr').template;
    const bucket = effective(dr, dr.Resources.DrBucket?.Properties);
    expect(get(bucket, 'ObjectLockEnabled')).toBe(true);
    expect(get(bucket, 'ObjectLockConfiguration')).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
    });
    expect(get(bucket, 'OwnershipControls', 'Rules', 0, 'ObjectOwnership')).toBe('BucketOwnerEnforced');
    expect(
      resolve(stackOf(split, 'dr'), get(bucket, 'BucketEncryption', 'ServerSideEncryptionConfiguration', 0)),
    ).toEqual({
      ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: DR_ACCOUNT_KEY },
      BucketKeyEnabled: true,
    });
    expect(dr.Resources.DrKmsKey).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 },
    });
    expect(get(dr.Outputs, 'DrKmsKeyArn', 'Value')).toEqual({ 'Fn::GetAtt': ['DrKmsKey', 'Arn'] });
    // The single-account shape is unchanged: no key of its own, no lock unless asked for.
    const one = stackOf(single, 'dr').template;
    expect(one.Resources.DrKmsKey).toBeUndefined();
    expect(
      get(effective(one, one.Resources.DrBucket?.Properties), 'ObjectLockConfiguration'),
    ).toBeUndefined();
  });
});

describe('partitions (aws-cn, aws-us-gov)', () => {
  const strings = (value: unknown): string[] =>
    typeof value === 'string'
      ? [value]
      : value && typeof value === 'object'
        ? Object.values(value).flatMap(strings)
        : [];

  it('builds every ARN of the DR-account templates with AWS::Partition (only parameters are literal)', () => {
    const given = new Set(Object.values(DR_ACCOUNT_PARAMS));
    for (const stack of split.stacks) {
      const literals = strings(stack.template).filter((v) => v.includes('arn:aws:') && !given.has(v));
      expect({ stack: stack.name, literals }).toEqual({ stack: stack.name, literals: [] });
    }
  });
});

describe('evaluated: an administrator of the primary account against the DR bucket and key', () => {
  const objectArn = `arn:aws:s3:::${DR}/photos/cat.jpg`;
  const bucketArn = `arn:aws:s3:::${DR}`;
  const everything = (id: string) => [
    { id: `${id}/AdministratorAccess`, statement: { Effect: 'Allow' as const, Action: '*', Resource: '*' } },
  ];
  const principal = (arn: string, id: string): FunctionRole => ({
    fn: id,
    stack: 'primary',
    roleId: id,
    roleArn: arn,
    statements: everything(id),
  });
  /** The decision for every forbidden action on the bucket, an object and the key. */
  async function decisions(w: IamWorld, who: FunctionRole, account: string, keyArn: string | undefined) {
    const out: Record<string, string> = {};
    for (const action of FORBIDDEN_ON_BUCKET) {
      const resource = ON_OBJECTS.includes(action) ? objectArn : bucketArn;
      out[action] = (
        await evaluate(who, { action, resource, because: 'attack' }, w.policies, account)
      ).result;
    }
    if (keyArn) {
      for (const action of FORBIDDEN_ON_KEY) {
        out[action] = (
          await evaluate(who, { action, resource: keyArn, because: 'attack' }, w.policies, account)
        ).result;
      }
    }
    return out;
  }
  const allDenied = (d: Record<string, string>) => Object.entries(d).filter(([, r]) => r === 'Allowed');

  it('denies a primary-account admin (`*` on `*`) every destructive action on the DR bucket and key', async () => {
    const attacker = principal(`arn:aws:iam::${ACCOUNT}:role/attacker-admin`, 'attacker');
    const d = await decisions(split, attacker, ACCOUNT, DR_ACCOUNT_KEY);
    expect(Object.keys(d)).toHaveLength(FORBIDDEN_ON_BUCKET.length + FORBIDDEN_ON_KEY.length);
    expect(allDenied(d)).toEqual([]);
    // Explicitly, on the bucket: the deny for the primary account holds even if a grant were added.
    expect(d['s3:PutBucketPolicy']).toBe('ExplicitlyDenied');
    expect(d['kms:ScheduleKeyDeletion']).toBe('ExplicitlyDenied');
  });

  it('denies the same to the primary’s own replicate, verify and restore roles widened to `*` on `*`', async () => {
    for (const role of split.roles.filter((r) => r.stack === 'primary' && r.fn !== 'ingest')) {
      const widened = { ...role, statements: [...role.statements, ...everything(role.roleId)] };
      const d = await decisions(split, widened, ACCOUNT, DR_ACCOUNT_KEY);
      expect({ fn: role.fn, allowed: allDenied(d) }).toEqual({ fn: role.fn, allowed: [] });
    }
  });

  it('denies a primary-account admin even the writes the primary roles have (it is granted nothing there)', async () => {
    const attacker = principal(`arn:aws:iam::${ACCOUNT}:role/attacker-admin`, 'attacker');
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:GetObject']) {
      const d = await evaluate(
        attacker,
        { action, resource: objectArn, because: 'attack' },
        split.policies,
        ACCOUNT,
      );
      expect({ action, result: d.result }).toEqual({ action, result: 'ImplicitlyDenied' });
    }
  });

  it('allows the DR account’s admin principal what it alone may do (the evaluator does not deny blindly)', async () => {
    const admin = { ...principal(DR_ACCOUNT_ADMIN, 'dr-admin'), stack: 'dr' };
    const d = await decisions(split, admin, DR_ACCOUNT, DR_ACCOUNT_KEY);
    expect(d['s3:PutBucketPolicy']).toBe('Allowed');
    expect(d['s3:PutLifecycleConfiguration']).toBe('Allowed');
    expect(d['kms:PutKeyPolicy']).toBe('Allowed');
    // Another DR-account principal with the same IAM is refused the bucket's protections.
    const other = { ...principal(`arn:aws:iam::${DR_ACCOUNT}:role/ops`, 'ops'), stack: 'dr' };
    expect((await decisions(split, other, DR_ACCOUNT, undefined))['s3:PutBucketPolicy']).toBe(
      'ExplicitlyDenied',
    );
  });

  it('in one account, denies an account admin version deletion and protection changes (the key is not protected)', async () => {
    const attacker = principal(`arn:aws:iam::${ACCOUNT}:role/attacker-admin`, 'attacker');
    const d = await decisions(single, attacker, ACCOUNT, undefined);
    const protectedInOneAccount = [
      's3:DeleteObjectVersion',
      's3:DeleteBucket',
      's3:PutBucketPolicy',
      's3:DeleteBucketPolicy',
      's3:PutLifecycleConfiguration',
      's3:PutBucketVersioning',
      's3:PutBucketObjectLockConfiguration',
      's3:BypassGovernanceRetention',
    ];
    for (const action of protectedInOneAccount)
      expect({ action, result: d[action] }).toEqual({ action, result: 'ExplicitlyDenied' });
    // What the security model (docs/security.md) lists as left in one account: retention and legal holds are not
    // in the admin-only deny (COMPLIANCE retention cannot be shortened anyway), and the admin principal
    // itself can lift the rest.
    expect(d['s3:PutObjectLegalHold']).toBe('Allowed');
    const admin = principal(ADMIN, 'admin');
    expect((await decisions(single, admin, ACCOUNT, undefined))['s3:PutBucketPolicy']).toBe('Allowed');
  });
});

describe('parameters of the DR-account mode (checked at package time)', () => {
  const events = resolver;
  /** The dev stage's parameters, with the DR bucket of these templates and `params` changed. */
  const resolverFor = (params: Record<string, unknown>) =>
    stubResolveVariable({ drBucket: DR, ...params }).resolveVariable;
  const check = (params: Record<string, unknown>) =>
    events.checkParams({ resolveVariable: resolverFor(params) });
  const drStack = { stackRole: 'dr', primaryAccountId: ACCOUNT, adminPrincipalArn: DR_ACCOUNT_ADMIN };
  const bucketStatements = async (params: Record<string, unknown>) =>
    (await events.drBucketPolicyStatements({ resolveVariable: resolverFor(params) })) as PolicyStatement[];

  it('accepts the evaluated stage for both stacks', async () => {
    await expect(check(DR_ACCOUNT_PARAMS)).resolves.toBe('ok');
    await expect(check({ ...DR_ACCOUNT_PARAMS, stackRole: 'dr' })).resolves.toBe('ok');
  });

  it('refuses an admin principal of the primary account on the DR account’s bucket', async () => {
    await expect(check({ ...drStack, adminPrincipalArn: ADMIN })).rejects.toThrow(
      /"adminPrincipalArn" names arn:aws:iam::123456789012:role\/s3dr-admin, of the primary account/,
    );
  });

  it('refuses a DR key of another account than drAccountId on the primary', async () => {
    await expect(
      check({ drAccountId: DR_ACCOUNT, kmsKeyArn: `arn:aws:kms:eu-central-1:${ACCOUNT}:key/k` }),
    ).rejects.toThrow(/"kmsKeyArn" must be a key of the DR account 222233334444/);
  });

  it('refuses, on the DR account’s dr stack, a key it does not manage (its key policy would not grant the primary)', async () => {
    await expect(check({ ...drStack, kmsKeyArn: DR_ACCOUNT_KEY })).rejects.toThrow(
      /set createDrKmsKey: true/,
    );
    await expect(check({ ...drStack, kmsKeyArn: DR_ACCOUNT_KEY, createDrKmsKey: 'true' })).resolves.toBe(
      'ok',
    );
  });

  it('refuses the primary with createDrKmsKey and no kmsKeyArn (deploy the dr stack first, then name its key)', async () => {
    await expect(check({ createDrKmsKey: 'true' })).rejects.toThrow(/DrKmsKeyArn output/);
  });

  it('refuses the same account on both sides, and malformed account ids and role names', async () => {
    await expect(check({ ...drStack, drAccountId: ACCOUNT })).rejects.toThrow(/equals drAccountId/);
    await expect(check({ ...drStack, primaryAccountId: '1234' })).rejects.toThrow(
      /"primaryAccountId" must be 12 digits/,
    );
    await expect(check({ ...drStack, primaryRoleNames: 'replicate' })).rejects.toThrow(/"primaryRoleNames"/);
    await expect(check({ ...drStack, primaryRoleNames: 'ingest=x' })).rejects.toThrow(/"primaryRoleNames"/);
  });

  it('names the primary roles primaryRoleNames gives, and the plugin’s names otherwise', async () => {
    const arnsIn = (statements: PolicyStatement[]) =>
      new Set(
        statements.flatMap((st) =>
          asList(get(st.Condition, 'ArnEquals', 'aws:PrincipalArn', 'Fn::Sub') as string | undefined),
        ),
      );
    expect(arnsIn(await bucketStatements(drStack))).toEqual(
      new Set(
        ['replicate', 'verify', 'restore', 'jobWorker'].map(
          (fn) => `arn:\${AWS::Partition}:iam::${ACCOUNT}:role/s3-dr-dev-${fn}-eu-west-1-lambdaRole`,
        ),
      ),
    );
    const custom = await bucketStatements({
      ...drStack,
      primaryRoleNames: 'replicate=rep,verify=ver,restore=res,jobWorker=job',
    });
    expect(arnsIn(custom)).toEqual(
      new Set(['rep', 'ver', 'res', 'job'].map((n) => `arn:\${AWS::Partition}:iam::${ACCOUNT}:role/${n}`)),
    );
  });

  it('cuts the primary account off with primaryAccess: deny — every request of its roles on the DR bucket and key is denied', async () => {
    const params = { ...DR_ACCOUNT_PARAMS, stackRole: 'dr', primaryAccess: 'deny' };
    const statements = await bucketStatements(params);
    const key = (await events.drKmsKey({ resolveVariable: resolverFor(params) })) as {
      Resources: Record<string, { Properties: Record<string, unknown> }>;
    };
    const dr = stackOf(split, 'dr');
    const policy = dr.template.Resources.DrBucketPolicy as NonNullable<
      (typeof dr.template.Resources)[string]
    >;
    const drKey = dr.template.Resources.DrKmsKey as NonNullable<(typeof dr.template.Resources)[string]>;
    const cutOff: Stack = {
      ...dr,
      template: {
        ...dr.template,
        Resources: {
          ...dr.template.Resources,
          DrBucketPolicy: {
            ...policy,
            Properties: {
              ...policy.Properties,
              PolicyDocument: { Version: '2012-10-17', Statement: statements },
            },
          },
          DrKmsKey: { ...drKey, Properties: key.Resources.DrKmsKey?.Properties },
        },
      },
    };
    const policies = new ResourcePolicies([stackOf(split, 'primary'), cutOff]);
    const replicate = split.roles.find((r) => r.stack === 'primary' && r.fn === 'replicate') as FunctionRole;
    const put = { action: 's3:PutObject', resource: `arn:aws:s3:::${DR}/photos/a.jpg`, because: 'replicate' };
    const dataKey = {
      action: 'kms:GenerateDataKey',
      resource: DR_ACCOUNT_KEY,
      because: 'replicate',
      context: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
    };
    // Allowed before, denied after: the same role, the same requests.
    expect((await evaluate(replicate, put, split.policies, ACCOUNT)).result).toBe('Allowed');
    expect((await evaluate(replicate, dataKey, split.policies, ACCOUNT)).result).toBe('Allowed');
    expect((await evaluate(replicate, put, policies, ACCOUNT)).result).toBe('ExplicitlyDenied');
    expect((await evaluate(replicate, dataKey, policies, ACCOUNT)).result).toBe('ExplicitlyDenied');
    expect(statements.filter((st) => st.Effect === 'Allow')).toEqual([]);
    // The DR account's own restore jobs still read the bucket (its account is not the primary's): the
    // job worker reads the DR versions, restore keeps the job's state.
    const drRole = (fn: string) => split.roles.find((r) => r.stack === 'dr' && r.fn === fn) as FunctionRole;
    const read = {
      action: 's3:GetObjectVersion',
      resource: `arn:aws:s3:::${DR}/photos/a.jpg`,
      because: 'restore',
    };
    const jobState = {
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${DR}/.s3dr/jobs/j/job.json`,
      because: 'restore',
    };
    expect((await evaluate(drRole('jobWorker'), read, policies, DR_ACCOUNT)).result).toBe('Allowed');
    expect((await evaluate(drRole('restore'), jobState, policies, DR_ACCOUNT)).result).toBe('Allowed');
    await expect(check({ ...params, primaryAccess: 'maybe' })).rejects.toThrow(
      /"primaryAccess" must be "allow" or "deny"/,
    );
  });

  it('keeps GOVERNANCE when chosen, and adds no primary-account statement to a single-account bucket', async () => {
    const lock = await events.objectLock.configuration({
      resolveVariable: resolverFor({ ...drStack, objectLockMode: 'GOVERNANCE' }),
    });
    expect(get(lock, 'Rule', 'DefaultRetention', 'Mode')).toBe('GOVERNANCE');
    const one = await bucketStatements({ stackRole: 'dr', adminPrincipalArn: ADMIN });
    expect(one.map((st) => st.Sid)).toEqual([
      'DenyInsecureTransport',
      'DenyVersionDeletionAndProtectionChangesExceptAdmin',
    ]);
  });
});
