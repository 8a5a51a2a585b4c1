'use strict';
/** `eventSource: eventbridge`: the EventBridge rule that routes the source buckets' object events to ingest. */
const { dlqArn } = require('./cfn.cjs');
const { eventBridgeDetailTypes } = require('./event-types.cjs');
const { eventKeyFilters } = require('./rules.cjs');

/**
 * `detail.object.key` of the EventBridge rule, or undefined for every key: the include prefixes when the
 * rules leave only those replicated, else a single exclusion as `anything-but` prefix ("Comparison
 * operators for use in event patterns in Amazon EventBridge": one prefix per `anything-but`; the values
 * of one field are alternatives, so several exclusions cannot be combined there — they are left to
 * replicate, which drops their events).
 */
function eventBridgeKeyFilter(s) {
  const { includePrefixes, excludePrefixes } = eventKeyFilters(s);
  if (includePrefixes) return includePrefixes.map((prefix) => ({ prefix }));
  if (excludePrefixes.length === 1) return [{ 'anything-but': { prefix: excludePrefixes[0] } }];
  return undefined;
}

/**
 * `eventSource: eventbridge`: the source buckets send their events to EventBridge (enabled on each bucket,
 * see docs/deploy.md), and one rule on the default bus routes the subscribed detail-types of exactly
 * these buckets to ingest. Ingest, not the queue: ingest validates and maps both envelope shapes to the
 * same task (replicate reads only tasks), and it keeps its async retries and on-failure DLQ. EventBridge's
 * own delivery failures (throttled, denied) go to the DLQ too, after its retry policy.
 */
function eventBridgeRouting(s) {
  if (s.stackRole !== 'primary' || s.eventSource !== 'eventbridge') return {};
  const keyFilter = eventBridgeKeyFilter(s);
  return {
    Resources: {
      IngestEventBridgeRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          Name: s.names.eventBridgeRule,
          Description: `S3 object events of the s3-dr ${s.names.stage} source buckets → ingest`,
          State: 'ENABLED',
          EventPattern: {
            source: ['aws.s3'],
            'detail-type': eventBridgeDetailTypes(s),
            detail: {
              bucket: { name: s.sourceBuckets },
              ...(keyFilter ? { object: { key: keyFilter } } : {}),
            },
          },
          Targets: [
            {
              Id: 'ingest',
              Arn: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
              RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
              DeadLetterConfig: { Arn: dlqArn },
            },
          ],
        },
      },
      IngestEventBridgePermission: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          FunctionName: { 'Fn::GetAtt': ['IngestLambdaFunction', 'Arn'] },
          Action: 'lambda:InvokeFunction',
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': ['IngestEventBridgeRule', 'Arn'] },
        },
      },
    },
  };
}

module.exports = { eventBridgeRouting };
