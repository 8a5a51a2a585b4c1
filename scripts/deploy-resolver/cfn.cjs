'use strict';
/** CloudFormation references and ARNs the resolver's parts build templates from. */

// Partition-aware (aws, aws-cn, aws-us-gov): never an `arn:aws:` literal in a template.
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
const PARTITION = '${AWS::Partition}';
const sub = (text) => ({ 'Fn::Sub': text });
const bucketArn = (bucket) => sub(`arn:${PARTITION}:s3:::${bucket}`);
const objectsArn = (bucket, prefix = '') => sub(`arn:${PARTITION}:s3:::${bucket}/${prefix}*`);
const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };
const jobQueueArn = { 'Fn::GetAtt': ['JobQueue', 'Arn'] };
const dlqArn = { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] };
const allow = (Sid, Action, Resource) => ({ Sid, Effect: 'Allow', Action, Resource });

module.exports = { PARTITION, sub, bucketArn, objectsArn, queueArn, jobQueueArn, dlqArn, allow };
