'use strict';
/**
 * `eventSource: notifications`: the source buckets' own notification configurations, which send their
 * object events to ingest, and the role of the framework's custom resource that writes them.
 */
const { PARTITION, allow, bucketArn, sub } = require('./cfn.cjs');
const { sourceEventTypes } = require('./event-types.cjs');
const { eventKeyFilters } = require('./rules.cjs');

/**
 * The notification entries per source bucket: one per event type, or — when the replication rules leave
 * only some prefixes replicated (a catch-all exclusion last) — one per event type and prefix, so S3 sends
 * no event replicate would drop. S3 filters a notification by one prefix (and suffix) only, never by
 * exclusion, and refuses overlapping configurations for one event type ("Configuring event notifications
 * using object key name filtering", Amazon S3 User Guide): the prefixes never overlap
 * (eventKeyFilters). Exclusions alone cannot be expressed there; EventBridge can (eventBridgeRouting).
 */
function notificationFilters(s) {
  const { includePrefixes } = eventKeyFilters(s);
  return sourceEventTypes(s).flatMap((event) =>
    includePrefixes ? includePrefixes.map((prefix) => ({ event, rules: [{ prefix }] })) : [{ event }],
  );
}

/**
 * S3 notifications for the *first* source bucket, through the framework's `existing: true` custom
 * resource. The framework allows one existing bucket per function; the others get the same custom
 * resource from `sourceBucketNotifications` below. With `eventSource: eventbridge` there are none: the
 * EventBridge rule of `eventBridgeRouting` delivers the events instead.
 */
function ingestEvents(s) {
  if (s.eventSource !== 'notifications') return [];
  const [first] = s.sourceBuckets;
  // forceDeploy: every deploy re-applies the notifications, so a deploy repairs a bucket whose
  // notification configuration another tool has overwritten (S3 keeps one per bucket).
  return notificationFilters(s).flatMap(({ event, rules }) => ({
    s3: { bucket: first, event, existing: true, forceDeploy: true, ...(rules ? { rules } : {}) },
  }));
}

/**
 * `Custom::S3` resources for source buckets 2…N, identical to the one the framework compiles for the
 * first bucket (same handler: it adds the Lambda permission and merges its own entries into the
 * bucket's notification configuration, leaving other entries alone). Chained with DependsOn, as the
 * framework chains its own, so that the handler never edits the function's resource policy
 * concurrently. The handler's role is narrowed by `customResourceRole`.
 */
function sourceBucketNotifications(s) {
  const extra = s.sourceBuckets.slice(1);
  if (s.stackRole !== 'primary' || s.eventSource !== 'notifications' || extra.length === 0) return {};
  const Resources = {};
  let previous = 'IngestCustomS31';
  extra.forEach((bucket, index) => {
    const logicalId = `IngestCustomS3Bucket${index + 2}`;
    Resources[logicalId] = {
      Type: 'Custom::S3',
      DependsOn: ['IngestLambdaFunction', 'IamRoleCustomResourcesLambdaExecution', previous],
      Properties: {
        ServiceToken: { 'Fn::GetAtt': ['CustomDashresourceDashexistingDashs3LambdaFunction', 'Arn'] },
        FunctionName: s.names.ingestFunction,
        BucketName: bucket,
        BucketConfigs: notificationFilters(s).map(({ event, rules }) => ({
          Event: event,
          Rules: (rules ?? []).map(({ prefix }) => ({ Prefix: prefix })),
        })),
        ForceDeploy: Date.now(), // as the framework's forceDeploy: re-applied on every deploy
      },
    };
    previous = logicalId;
  });
  return { Resources };
}

/**
 * The role of the framework's notification custom resource (`IamRoleCustomResourcesLambdaExecution`).
 * The framework grants it `lambda:AddPermission`/`RemovePermission` on every function of the account
 * and region (`function:*`); its handler only ever adds ingest's permission and edits the source
 * buckets' notifications. The extension replaces the role's policies with exactly that.
 */
function customResourceRole(s) {
  if (s.stackRole !== 'primary' || s.eventSource !== 'notifications') return {};
  return {
    extensions: {
      IamRoleCustomResourcesLambdaExecution: {
        Properties: {
          Policies: [
            {
              PolicyName: `${s.names.stage}-${s.names.service}-custom-resources-lambda`,
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  allow(
                    'ConfigureSourceBucketNotifications',
                    ['s3:PutBucketNotification', 's3:GetBucketNotification'],
                    s.sourceBuckets.map(bucketArn),
                  ),
                  allow(
                    'PermitS3ToInvokeIngest',
                    ['lambda:AddPermission', 'lambda:RemovePermission'],
                    [
                      sub(
                        `arn:${PARTITION}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${s.names.ingestFunction}`,
                      ),
                    ],
                  ),
                ],
              },
            },
          ],
        },
      },
    },
  };
}

module.exports = { ingestEvents, sourceBucketNotifications, customResourceRole };
