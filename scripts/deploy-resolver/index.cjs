'use strict';
/**
 * The deployment resolver: every value in serverless.yml that is *computed* from the stage parameters —
 * lists expanded per bucket, arithmetic, choices per stack role — comes from here, as a plain function
 * of the checked settings (settings.cjs, read once per `sls` process). osls calls each export with
 * `{ options, resolveVariable }` (`${file(./scripts/deploy-resolver/index.cjs):name}`), at package time,
 * offline: nothing here may call AWS. CommonJS (.cjs) because osls `require`s the file and package.json
 * says `"type": "module"`.
 *
 * One module per thing the resolver makes: settings (parameters), iam (function roles), s3-notifications
 * and eventbridge (how events reach ingest), environment, queues, alarms, dashboard, encryption,
 * object-lock, and the DR bucket's policy and key (dr-bucket-policy, dr-kms-key).
 */
const alarms = require('./alarms.cjs');
const { dashboardBody } = require('./dashboard.cjs');
const {
  DR_BUCKET_PROTECTED_ACTIONS,
  adminPrincipalArns,
  drBucketPolicyStatements,
} = require('./dr-bucket-policy.cjs');
const { DR_KEY_PROTECTED_ACTIONS, drKmsKey } = require('./dr-kms-key.cjs');
const { drBucketKmsKeyId, encryption } = require('./encryption.cjs');
const environment = require('./environment.cjs');
const { EVENTBRIDGE_DETAIL_TYPES, S3_EVENT_TYPES } = require('./event-types.cjs');
const { eventBridgeRouting } = require('./eventbridge.cjs');
const { roleStatements } = require('./iam.cjs');
const { objectLock } = require('./object-lock.cjs');
const queues = require('./queues.cjs');
const { rulesJson } = require('./rules.cjs');
const { customResourceRole, ingestEvents, sourceBucketNotifications } = require('./s3-notifications.cjs');
const { fromSettings } = require('./settings.cjs');

/** Each function of `group` as a resolver export (`${file(…):group.name}`). */
const eachFromSettings = (group) =>
  Object.fromEntries(Object.entries(group).map(([name, fn]) => [name, fromSettings(fn)]));

module.exports = {
  // For tests/package/template.test.ts: both modes subscribe from these.
  S3_EVENT_TYPES,
  EVENTBRIDGE_DETAIL_TYPES,
  /** Forces every parameter check to run once, early, whatever the stack role (see custom.checkedParams). */
  checkParams: fromSettings(() => 'ok'),
  ingestEvents: fromSettings(ingestEvents),
  sourceBucketNotifications: fromSettings(sourceBucketNotifications),
  customResourceRole: fromSettings(customResourceRole),
  eventBridgeRouting: fromSettings(eventBridgeRouting),
  /** `eventbridge` or `notifications`, for the template's UsesEventBridge condition. */
  eventSource: fromSettings((s) => s.eventSource),
  rulesJson: fromSettings(rulesJson),
  replicateMaxConcurrency: fromSettings(queues.replicateMaxConcurrency),
  drBucketOwner: fromSettings(environment.drBucketOwner),
  iamRoleStatements: eachFromSettings(roleStatements),
  queueUrl: fromSettings(environment.queueUrl),
  visibilityTimeout: fromSettings(queues.visibilityTimeout),
  jobQueueUrl: fromSettings(environment.jobQueueUrl),
  jobVisibilityTimeout: fromSettings(queues.jobVisibilityTimeout),
  jobSettings: eachFromSettings(queues.jobSettings),
  verifyAlarm: eachFromSettings(alarms.verifyAlarm),
  adminPrincipalArns: fromSettings(adminPrincipalArns),
  /** Booleans as the strings CloudFormation's Fn::Equals compares (a --param is "true", YAML is true). */
  flag: { createDrBucket: fromSettings((s) => String(s.createDrBucket)) },
  encryption: eachFromSettings(encryption),
  objectLock: eachFromSettings(objectLock),
  functionAlarms: fromSettings(alarms.functionAlarms),
  dashboardBody: fromSettings(dashboardBody),
  // DR account (issue #14)
  DR_BUCKET_PROTECTED_ACTIONS,
  DR_KEY_PROTECTED_ACTIONS,
  drBucketPolicyStatements: fromSettings(drBucketPolicyStatements),
  drKmsKey: fromSettings(drKmsKey),
  drBucketKmsKeyId: fromSettings(drBucketKmsKeyId),
};
