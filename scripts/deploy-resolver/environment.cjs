'use strict';
/** Computed values of the functions' environment (S3DR_*): queue URLs and the DR bucket's owner. */
const { sub } = require('./cfn.cjs');

/**
 * S3DR_DR_BUCKET_OWNER: the account that must own the DR bucket, sent as ExpectedBucketOwner (S3 User
 * Guide, "Verifying bucket ownership with bucket owner condition"). drAccountId when the DR bucket is in
 * another account; otherwise this stack's own account (awsAccountId when given, so the value is literal
 * for `sls invoke local`). None on the emulator.
 */
function drBucketOwner(s) {
  if (s.drAccountId) return s.drAccountId;
  if (s.endpointUrl) return null;
  if (s.awsAccountId) return s.awsAccountId;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  return sub('${AWS::AccountId}');
}

/**
 * S3DR_QUEUE_URL. Locally a literal URL on the emulator (so `sls print`/`invoke local` need no AWS);
 * on AWS a Fn::Sub, because the account id is not known offline — unless the awsAccountId parameter
 * gives it, which makes the URL literal and `sls invoke local` usable against AWS. The dr stack has
 * no queue.
 */
function queueUrl(s) {
  if (s.stackRole !== 'primary') return null;
  if (s.endpointUrl) return `${s.endpointUrl.replace(/\/$/, '')}/000000000000/${s.names.replicationQueue}`;
  if (s.awsAccountId) {
    return `https://sqs.${s.sourceRegion}.amazonaws.com/${s.awsAccountId}/${s.names.replicationQueue}`;
  }
  return {
    'Fn::Sub': `https://sqs.\${AWS::Region}.\${AWS::URLSuffix}/\${AWS::AccountId}/${s.names.replicationQueue}`,
  };
}

/**
 * S3DR_JOB_QUEUE_URL: the job queue of this stack (each stack role has one, in its own region, so a
 * restore job runs from the dr stack with the source region down). Literal locally, Fn::Sub on AWS.
 */
function jobQueueUrl(s) {
  const name = s.names.jobQueue;
  if (s.endpointUrl) return `${s.endpointUrl.replace(/\/$/, '')}/000000000000/${name}`;
  return { 'Fn::Sub': `https://sqs.\${AWS::Region}.\${AWS::URLSuffix}/\${AWS::AccountId}/${name}` };
}

module.exports = { drBucketOwner, queueUrl, jobQueueUrl };
