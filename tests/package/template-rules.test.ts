/**
 * Replication rules in the packaged templates (serverless param `rules`): checked at `sls package` with
 * lib/core/replication-rules.ts, passed to every function as S3DR_RULES, and used to cut the events replicate
 * would drop. What AWS allows that this relies on:
 * - S3 notification filters: one prefix rule per configuration ("AWS::S3::Bucket S3KeyFilter": "The same
 *   type of filter rule cannot be used more than once"), no negation, and no two configurations for one
 *   event type whose prefixes overlap ("Configuring event notifications using object key name filtering",
 *   Amazon S3 User Guide).
 * - EventBridge event patterns: `anything-but` with one `prefix` ("Comparison operators for use in event
 *   patterns in Amazon EventBridge", Anything-but (begins with)); the values listed for one field are
 *   alternatives (prefix matching, "Begins with").
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  type CfnTemplate,
  effective,
  get,
  packageTemplate,
  resource,
  resourcesOfType,
  runSls,
  SLS_TIMEOUT_MS,
  type SlsResult,
} from '../helpers/template.ts';

/** Only invoices/ and contracts/ are replicated: a catch-all exclusion ends the list. */
const INCLUDE_ONLY = [
  { id: 'invoices', filter: { prefix: 'invoices/' }, drStorageClass: 'STANDARD_IA', deletePolicy: 'retain' },
  { id: 'contracts', filter: { prefix: 'contracts/' } },
  { id: 'rest', filter: {}, replicate: false },
];
const EXCLUDE_TMP = [
  { id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false },
  { id: 'bulk', filter: {}, drStorageClass: 'GLACIER_IR' },
];

let notifications: CfnTemplate;
let eventbridge: CfnTemplate;
let eventbridgeIncludeOnly: CfnTemplate;
/** Rule 2 can never apply: rule 1 takes every key it would. */
const UNREACHABLE = [
  { id: 'logs', filter: { prefix: 'logs/' }, replicate: false },
  { id: 'audit', filter: { prefix: 'logs/audit/' } },
];
let unreachable: SlsResult;

// Every `sls` run of this file at once (tests/helpers/template.ts runs two at a time).
beforeAll(async () => {
  [notifications, eventbridge, eventbridgeIncludeOnly, unreachable] = await Promise.all([
    packageTemplate('dev', {
      sourceBuckets: 'a-bucket,b-bucket',
      keyLayout: 'bucket-prefixed',
      rules: JSON.stringify(INCLUDE_ONLY),
    }),
    packageTemplate('dev', {
      eventSource: 'eventbridge',
      rules: JSON.stringify(EXCLUDE_TMP),
    }),
    packageTemplate('dev', {
      eventSource: 'eventbridge',
      rules: JSON.stringify(INCLUDE_ONLY),
    }),
    runSls([
      'package',
      '--stage',
      'dev',
      '--package',
      '/dev/null',
      `--param=rules=${JSON.stringify(UNREACHABLE)}`,
    ]),
  ]);
}, 4 * SLS_TIMEOUT_MS);

const props = (t: CfnTemplate, id: string) => effective(t, resource(t, id).Properties ?? {});

describe('replication rules in the templates', () => {
  it('gives every function the checked rules as S3DR_RULES', () => {
    for (const fn of ['Ingest', 'Replicate', 'Verify', 'Restore']) {
      const value = get(
        props(notifications, `${fn}LambdaFunction`),
        'Environment',
        'Variables',
        'S3DR_RULES',
      );
      expect(JSON.parse(String(value))).toEqual([
        { ...INCLUDE_ONLY[0], replicate: true },
        { ...INCLUDE_ONLY[1], replicate: true },
        { ...INCLUDE_ONLY[2] },
      ]);
    }
  });

  it('limits every source bucket’s notifications to the replicated prefixes, one configuration per event type and prefix', () => {
    const configs = resourcesOfType(notifications, 'Custom::S3').map(
      ([, r]) => get(r.Properties, 'BucketConfigs') as { Event: string; Rules: { Prefix: string }[] }[],
    );
    expect(configs).toHaveLength(2);
    for (const bucketConfigs of configs) {
      const byEvent = new Map<string, string[]>();
      for (const c of bucketConfigs) {
        expect(c.Rules).toHaveLength(1);
        byEvent.set(c.Event, [...(byEvent.get(c.Event) ?? []), c.Rules[0]?.Prefix ?? '']);
      }
      expect([...byEvent.keys()].sort()).toEqual(
        ['s3:LifecycleExpiration:*', 's3:ObjectCreated:*', 's3:ObjectRemoved:*', 's3:ObjectTagging:*'].sort(),
      );
      for (const prefixes of byEvent.values()) expect(prefixes.sort()).toEqual(['contracts/', 'invoices/']);
    }
  });

  it('drops a prefix-only exclusion in the EventBridge rule with anything-but prefix', () => {
    expect(
      get(props(eventbridge, 'IngestEventBridgeRule'), 'EventPattern', 'detail', 'object', 'key'),
    ).toEqual([{ 'anything-but': { prefix: 'tmp/' } }]);
  });

  it('routes only the replicated prefixes through EventBridge when a catch-all exclusion ends the list', () => {
    expect(
      get(props(eventbridgeIncludeOnly, 'IngestEventBridgeRule'), 'EventPattern', 'detail', 'object', 'key'),
    ).toEqual([{ prefix: 'contracts/' }, { prefix: 'invoices/' }]);
  });

  it('fails `sls package` naming the parameter, the rule and the field', () => {
    expect(unreachable.code).not.toBe(0);
    expect(`${unreachable.stdout}${unreachable.stderr}`).toContain(
      'serverless.yml parameter "rules" rule 2 ("audit") can never apply: rule 1 ("logs") comes first',
    );
  });
});
