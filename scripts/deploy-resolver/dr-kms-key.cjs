'use strict';
/**
 * `createDrKmsKey` (dr stack): the DR bucket's customer managed key, and — in a DR account of its own —
 * what the primary roles may do with it (docs/design.md, invariant 2).
 */
const { PARTITION, sub } = require('./cfn.cjs');
const { DR_ACCOUNT_FUNCTIONS } = require('./dr-account-settings.cjs');
const { capitalized, primaryAccountRoot, primaryRoleArn } = require('./dr-bucket-policy.cjs');

/** The same for the DR key: its policy, its life and who else may use it. */
const DR_KEY_PROTECTED_ACTIONS = [
  'kms:ScheduleKeyDeletion',
  'kms:DisableKey',
  'kms:PutKeyPolicy',
  'kms:CreateGrant',
  'kms:RevokeGrant',
  'kms:RetireGrant',
  'kms:DisableKeyRotation',
  'kms:UpdateKeyDescription',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:Encrypt',
];
/** What S3 asks of the DR key for a primary role: data keys to write, Decrypt to read (and complete uploads). */
const DR_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/**
 * `createDrKmsKey` (dr stack): a customer managed key for the DR bucket, kept like the bucket. Its policy
 * lets this account's IAM manage and use it (the default key policy's statement, without which the key
 * could not be managed at all), lets each primary role use it only through S3 in this region
 * (kms:ViaService), and refuses the primary account every change to the key.
 */
function drKmsKey(s) {
  if (s.stackRole !== 'dr' || !s.createDrKmsKey) return {};
  const denied = s.primaryAccess === 'deny';
  const primary = s.primaryAccountId
    ? [
        {
          Sid: denied ? 'DenyPrimaryAccountEverything' : 'DenyPrimaryAccountKeyChanges',
          Effect: 'Deny',
          Principal: '*',
          Action: denied ? 'kms:*' : DR_KEY_PROTECTED_ACTIONS,
          Resource: '*',
          Condition: { StringEquals: { 'aws:PrincipalAccount': s.primaryAccountId } },
        },
        ...(denied ? [] : DR_ACCOUNT_FUNCTIONS).map((fn) => ({
          Sid: `Primary${capitalized(fn)}UsesKeyThroughS3`,
          Effect: 'Allow',
          Principal: { AWS: primaryAccountRoot(s) },
          Action: DR_KEY_USE_ACTIONS,
          Resource: '*',
          Condition: {
            ArnEquals: { 'aws:PrincipalArn': primaryRoleArn(s, fn) },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
            StringEquals: { 'kms:ViaService': sub('s3.${AWS::Region}.${AWS::URLSuffix}') },
          },
        })),
      ]
    : [];
  return {
    Resources: {
      DrKmsKey: {
        Type: 'AWS::KMS::Key',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          Description: `s3-dr ${s.names.stage}: encrypts the DR bucket ${s.drBucket}`,
          EnableKeyRotation: true,
          PendingWindowInDays: 30,
          KeyPolicy: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'EnableIamPoliciesOfThisAccount',
                Effect: 'Allow',
                Principal: { AWS: sub(`arn:${PARTITION}:iam::\${AWS::AccountId}:root`) },
                Action: 'kms:*',
                Resource: '*',
              },
              ...primary,
            ],
          },
        },
      },
      DrKmsKeyAlias: {
        Type: 'AWS::KMS::Alias',
        Properties: {
          AliasName: `alias/${s.names.service}-${s.names.stage}-dr`,
          TargetKeyId: { Ref: 'DrKmsKey' },
        },
      },
    },
    Outputs: {
      // The primary stack's kmsKeyArn (it encrypts DR copies with this key, by ARN: S3 resolves an alias
      // in the requester's account).
      DrKmsKeyArn: { Value: { 'Fn::GetAtt': ['DrKmsKey', 'Arn'] } },
    },
  };
}

module.exports = { DR_KEY_PROTECTED_ACTIONS, drKmsKey };
