'use strict';
/** The CloudWatch dashboard of the primary stack. */

/** What the verifier and the replicator publish (EMF, namespace S3DR, default dimension service). */
const METRICS = {
  namespace: 'S3DR',
  dimension: ['service', 's3-dr'],
};

/**
 * The CloudWatch dashboard, as the JSON body CloudFormation wants (Fn::Sub for region and alarm ARNs).
 * Longer than 80 lines because it is one literal: the widgets in the order the dashboard shows them,
 * which a reader compares with the dashboard itself; split up, the layout would no longer read as one.
 */
function dashboardBody(s) {
  const n = s.names;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  const region = '${AWS::Region}';
  const custom = (name, stat, extra = {}) => [
    METRICS.namespace,
    name,
    ...METRICS.dimension,
    { stat, ...extra },
  ];
  const widget = (title, metrics, extra = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: { title, region, view: 'timeSeries', stacked: false, period: 300, metrics, ...extra },
  });
  const lambda = (fn, metric) => ['AWS/Lambda', metric, 'FunctionName', n[`${fn}Function`], { stat: 'Sum' }];
  const sqs = (queue, metric, stat) => ['AWS/SQS', metric, 'QueueName', queue, { stat }];
  const alarmIds = [
    'DlqNotEmptyAlarm',
    'ReplicationLagAlarm',
    'VerifyDriftAlarm',
    'VerifySilentAlarm',
    ...['Ingest', 'Replicate', 'Verify'].flatMap((f) => [`${f}ErrorsAlarm`, `${f}ThrottlesAlarm`]),
    'JobStalledAlarm',
    'JobDlqNotEmptyAlarm',
  ];
  const body = {
    widgets: [
      {
        type: 'alarm',
        width: 24,
        height: 3,
        properties: { title: 'Alarms', alarms: alarmIds.map((id) => `\${${id}.Arn}`) },
      },
      widget('Events in (S3 notifications → tasks)', [
        custom('EventsIngested', 'Sum'),
        custom('EventsIgnored', 'Sum'),
        custom('EventsInvalid', 'Sum'),
      ]),
      widget('Objects replicated', [
        custom('ObjectsCopied', 'Sum'),
        custom('ObjectsDeleted', 'Sum'),
        custom('ObjectsSkipped', 'Sum'),
        custom('ObjectsRetained', 'Sum'),
        custom('Failures', 'Sum'),
      ]),
      // Sources S3 cannot copy as they are (archived, SSE-C): a dashboard matter, not an alarm
      // (runbooks/unreplicable.md).
      widget('Unreplicable sources (archived, SSE-C)', [
        custom('ObjectsUnreplicable', 'Sum'),
        custom('ObjectsThawing', 'Sum'),
        custom('VerifyUnreplicable', 'Maximum', { yAxis: 'right', label: 'VerifyUnreplicable (per run)' }),
      ]),
      widget('Bytes copied', [custom('BytesCopied', 'Sum')]),
      widget('Replication lag (event → DR), ms', [
        custom('ReplicationLagMs', 'p50', { label: 'p50' }),
        custom('ReplicationLagMs', 'p99', { label: 'p99' }),
      ]),
      widget('Replication queue', [
        sqs(n.replicationQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
        sqs(n.replicationQueue, 'ApproximateNumberOfMessagesNotVisible', 'Maximum'),
        sqs(n.replicationQueue, 'ApproximateAgeOfOldestMessage', 'Maximum'),
      ]),
      widget('Dead-letter queue', [sqs(n.deadLetterQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum')]),
      widget(
        'Verifier',
        [
          custom('VerifyMissing', 'Sum'),
          custom('VerifyMismatched', 'Sum'),
          custom('VerifyOrphaned', 'Sum'),
          custom('VerifyObjectsChecked', 'Sum', { yAxis: 'right' }),
          custom('VerifyPassComplete', 'Sum', { yAxis: 'right' }),
        ],
        { period: 3600 },
      ),
      // Restore jobs: progress (objects examined per period), and the work waiting for workers.
      widget('Restore jobs', [
        custom('JobObjectsExamined', 'Sum'),
        sqs(n.jobQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
        sqs(n.jobQueue, 'ApproximateNumberOfMessagesNotVisible', 'Maximum'),
        sqs(n.jobDeadLetterQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
      ]),
      widget(
        'Lambda errors and throttles',
        ['ingest', 'replicate', 'verify', 'restore'].flatMap((fn) => [
          lambda(fn, 'Errors'),
          ...(fn === 'restore' ? [] : [lambda(fn, 'Throttles')]),
        ]),
      ),
    ],
  };
  return { 'Fn::Sub': JSON.stringify(body) };
}

module.exports = { dashboardBody };
