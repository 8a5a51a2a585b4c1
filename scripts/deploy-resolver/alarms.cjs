'use strict';
/** CloudWatch alarms computed from the settings: the functions' Errors and Throttles, the verify periods. */

/** Alarm periods derived from the verify schedule. */
const verifyAlarm = {
  silentPeriod: (s) => s.verifySilentSeconds,
  driftPeriod: (s) => s.verifyDriftPeriod,
};

/** Errors and Throttles alarms for the three functions that run unattended. */
function functionAlarms(s) {
  const runbooks = s.runbooksUrl;
  const stage = s.names.stage;
  const Resources = {};
  const what = {
    ingest:
      'S3 notifications may not have become replication tasks (after 2 async retries they are in the DLQ)',
    replicate: 'whole batches failed (crash or timeout); their tasks are retried, then land in the DLQ',
    verify: 'a verification run failed; drift is not being detected or repaired',
  };
  for (const fn of ['ingest', 'replicate', 'verify']) {
    const functionName = s.names[`${fn}Function`];
    const Fn = fn[0].toUpperCase() + fn.slice(1);
    const common = {
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: functionName }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
      OKActions: [{ Ref: 'AlarmTopic' }],
    };
    Resources[`${Fn}ErrorsAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Condition: 'IsPrimary',
      Properties: {
        AlarmName: `${functionName}-errors`,
        AlarmDescription:
          `${functionName} had failed invocations in the last 5 minutes: ${what[fn]}. ` +
          `First: npx sls logs -f ${fn} --stage ${stage} --startTime 30m --filter ERROR. ` +
          `Runbook: ${runbooks}/function-errors.md`,
        MetricName: 'Errors',
        ...common,
      },
    };
    Resources[`${Fn}ThrottlesAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Condition: 'IsPrimary',
      Properties: {
        AlarmName: `${functionName}-throttles`,
        AlarmDescription: {
          'Fn::Sub':
            `${functionName} was throttled in the last 5 minutes (the account's unreserved concurrency ` +
            'exhausted): work is delayed, not lost. First: aws lambda get-account-settings --region ' +
            `\${AWS::Region}; aws lambda get-function-concurrency --function-name ${functionName}. ` +
            `Runbook: ${runbooks}/function-throttles.md`,
        },
        MetricName: 'Throttles',
        ...common,
      },
    };
  }
  return { Resources };
}

module.exports = { verifyAlarm, functionAlarms };
