'use strict';
/**
 * The DR bucket's policy: TLS only, its protections for the admin alone, and — the dr stack in a DR
 * account of its own — the primary roles' exact grants and what the primary account may never do
 * (docs/design.md, invariant 2).
 */
const { PARTITION, bucketArn, objectsArn, sub } = require('./cfn.cjs');
const { DR_ACCOUNT_FUNCTIONS } = require('./dr-account-settings.cjs');
const { roleStatements } = require('./iam.cjs');

/**
 * What no principal of the primary account may do to the DR bucket, whatever its own IAM says: erase a
 * version, or change what protects the versions (policy, versioning, lifecycle, Object Lock, retention,
 * ownership and ACLs, encryption, public access, replication). Denied explicitly, besides being granted
 * to nobody, so a grant added by mistake later cannot reopen them.
 */
const DR_BUCKET_PROTECTED_ACTIONS = [
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutBucketOwnershipControls',
  's3:PutBucketAcl',
  's3:PutObjectAcl',
  's3:PutObjectVersionAcl',
  's3:PutEncryptionConfiguration',
  's3:PutBucketPublicAccessBlock',
  's3:PutReplicationConfiguration',
];

/** `arn:<partition>:iam::<primary account>:role/<name>` of a primary function's role. */
const primaryRoleArn = (s, fn) =>
  sub(`arn:${PARTITION}:iam::${s.primaryAccountId}:role/${s.primaryRoleNames[fn]}`);
const primaryAccountRoot = (s) => sub(`arn:${PARTITION}:iam::${s.primaryAccountId}:root`);
const capitalized = (text) => `${text[0].toUpperCase()}${text.slice(1)}`;

/** The principals that alone may lift the DR bucket's protections. */
function adminPrincipalArns(s) {
  // An unreachable placeholder keeps the template valid where no bucket is created (condition false).
  return s.adminPrincipalArns.length > 0
    ? s.adminPrincipalArns
    : [sub(`arn:${PARTITION}:iam::000000000000:root`)];
}

/**
 * The primary's grants on the DR bucket, for its bucket policy: each primary role's own statements on the
 * DR bucket (roleStatements in iam.cjs, the ones the IAM evaluation proves are all needed), restricted to their
 * DR resources, for that role alone. The principal is the primary account and the condition names the
 * exact role ARN (aws:PrincipalArn): a policy naming the role itself as principal fails to save until
 * the role exists, and stops matching when the role is re-created (IAM User Guide, "AWS JSON policy
 * elements: Principal", IAM roles) — so the dr stack could not be deployed first, and a redeploy of the
 * primary would cut replication silently.
 */
function primaryBucketGrants(s) {
  const drResource = (r) => {
    const text = String(r?.['Fn::Sub']);
    return (
      text === `arn:${PARTITION}:s3:::${s.drBucket}` ||
      text.startsWith(`arn:${PARTITION}:s3:::${s.drBucket}/`)
    );
  };
  const grants = [];
  for (const fn of DR_ACCOUNT_FUNCTIONS) {
    // As the primary defines the role: its job worker also runs verify (iam.cjs, jobWorker).
    for (const statement of roleStatements[fn]({ ...s, stackRole: 'primary' })) {
      const Resource = statement.Resource.filter(drResource);
      if (Resource.length === 0) continue;
      grants.push({
        Sid: `Primary${capitalized(fn)}${statement.Sid}`,
        Effect: 'Allow',
        Principal: { AWS: primaryAccountRoot(s) },
        Action: statement.Action,
        Resource,
        Condition: { ArnEquals: { 'aws:PrincipalArn': primaryRoleArn(s, fn) } },
      });
    }
  }
  return grants;
}

/** The DR bucket policy's statements: TLS only, protections for the admin alone, the DR-account grants. */
function drBucketPolicyStatements(s) {
  const bucket = [bucketArn(s.drBucket), objectsArn(s.drBucket)];
  return [
    {
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: bucket,
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
    // The backup's own protections can be lifted only by the admin principal(s): not by replicate's
    // role, nor by any other identity in the account, however broad its IAM.
    {
      Sid: 'DenyVersionDeletionAndProtectionChangesExceptAdmin',
      Effect: 'Deny',
      Principal: '*',
      Action: [
        's3:DeleteObjectVersion',
        's3:PutLifecycleConfiguration',
        's3:PutBucketVersioning',
        's3:PutBucketPolicy',
        's3:DeleteBucketPolicy',
        's3:DeleteBucket',
        's3:PutBucketObjectLockConfiguration',
        's3:BypassGovernanceRetention',
      ],
      Resource: bucket,
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': adminPrincipalArns(s) } },
    },
    ...(s.stackRole === 'dr' && s.primaryAccountId
      ? [
          s.primaryAccess === 'deny'
            ? {
                Sid: 'DenyPrimaryAccountEverything',
                Effect: 'Deny',
                Principal: '*',
                Action: 's3:*',
                Resource: bucket,
                Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
              }
            : {
                Sid: 'DenyPrimaryAccountProtectionChanges',
                Effect: 'Deny',
                Principal: '*',
                Action: DR_BUCKET_PROTECTED_ACTIONS,
                Resource: bucket,
                Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
              },
          ...(s.primaryAccess === 'deny' ? [] : primaryBucketGrants(s)),
        ]
      : []),
  ];
}

module.exports = {
  DR_BUCKET_PROTECTED_ACTIONS,
  adminPrincipalArns,
  drBucketPolicyStatements,
  primaryAccountRoot,
  primaryRoleArn,
  capitalized,
};
