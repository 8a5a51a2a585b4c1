/**
 * Replication rules (lib/core/replication-rules.ts): matching by prefix, tags and both, first match wins,
 * exclusion, a tag change moving a key to another rule; and the checks a rule set passes at `sls package`
 * and at cold start (S3DR_RULES), with errors naming the rule and the field.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import {
  DEFAULT_RULE,
  decideByKey,
  decideRule,
  eventKeyFilters,
  excludedByKey,
  parseRules,
  type ReplicationRule,
} from '../../lib/core/replication-rules.ts';
import type { Task } from '../../lib/core/task.ts';
import { ingestNotification } from '../../lib/ingest/notification.ts';

const defaults = { drStorageClass: 'STANDARD', deletePolicy: 'mirror' } as const;

function rules(value: unknown): ReplicationRule[] {
  const parsed = parseRules(value);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.rules;
}

function problems(value: unknown): string[] {
  const parsed = parseRules(value);
  if (parsed.ok) throw new Error('the rule set was accepted');
  return parsed.problems;
}

/** The sample rule set of docs/replication-rules.md ("A worked example"). */
const sample = rules([
  { id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false },
  {
    id: 'legal-hold',
    filter: { tags: { retention: 'legal' } },
    drStorageClass: 'STANDARD',
    deletePolicy: 'retain',
  },
  { id: 'invoices', filter: { prefix: 'invoices/' }, drStorageClass: 'STANDARD_IA', deletePolicy: 'retain' },
  { id: 'logs', filter: { prefix: 'logs/', tags: { keep: 'no' } }, replicate: false },
  { id: 'bulk', filter: {}, drStorageClass: 'GLACIER_IR' },
]);

const noTags = async () => ({});

describe('matching', () => {
  it('matches a rule by key prefix', async () => {
    const d = await decideRule(sample, 'invoices/2026/1.pdf', defaults, noTags);
    expect(d).toEqual({
      rule: 'invoices',
      replicate: true,
      drStorageClass: 'STANDARD_IA',
      deletePolicy: 'retain',
    });
  });

  it('matches a rule by tags: every tag of the filter, key and value', async () => {
    const legal = await decideRule(sample, 'photos/a.jpg', defaults, async () => ({
      retention: 'legal',
      x: '1',
    }));
    expect(legal.rule).toBe('legal-hold');
    const other = await decideRule(sample, 'photos/a.jpg', defaults, async () => ({ retention: 'LEGAL' }));
    expect(other.rule).toBe('bulk');
  });

  it('matches a rule with both a prefix and tags only when both match', async () => {
    expect((await decideRule(sample, 'logs/app.log', defaults, async () => ({ keep: 'no' }))).replicate).toBe(
      false,
    );
    expect((await decideRule(sample, 'logs/app.log', defaults, async () => ({ keep: 'yes' }))).rule).toBe(
      'bulk',
    );
    expect((await decideRule(sample, 'other/app.log', defaults, async () => ({ keep: 'no' }))).rule).toBe(
      'bulk',
    );
  });

  it('takes the first matching rule: order is the priority', async () => {
    // invoices/ with the legal tag: legal-hold comes first.
    const d = await decideRule(sample, 'invoices/x.pdf', defaults, async () => ({ retention: 'legal' }));
    expect(d).toMatchObject({ rule: 'legal-hold', drStorageClass: 'STANDARD' });
  });

  it('excludes keys of an exclude rule, and gives unmatched keys the stage defaults', async () => {
    expect(await decideRule(sample, 'tmp/scratch', defaults, noTags)).toMatchObject({
      rule: 'tmp',
      replicate: false,
    });
    const none = rules([{ id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false }]);
    expect(await decideRule(none, 'a.txt', defaults, noTags)).toEqual({
      rule: DEFAULT_RULE,
      replicate: true,
      ...defaults,
    });
  });

  it('moves a key to another rule when its tags change', async () => {
    let tags: Record<string, string> = {};
    const read = async () => tags;
    expect((await decideRule(sample, 'reports/q3.xlsx', defaults, read)).rule).toBe('bulk');
    tags = { retention: 'legal' };
    expect(await decideRule(sample, 'reports/q3.xlsx', defaults, read)).toMatchObject({
      rule: 'legal-hold',
      drStorageClass: 'STANDARD',
      deletePolicy: 'retain',
    });
  });

  it('reads tags only when a tag rule with a matching prefix is reached, and at most once', async () => {
    const read = jest.fn(async () => ({ keep: 'yes' }));
    await decideRule(sample, 'tmp/x', defaults, read);
    expect(read).not.toHaveBeenCalled();
    await decideRule(sample, 'logs/x', defaults, read);
    expect(read).toHaveBeenCalledTimes(1);
    const prefixOnly = rules([{ id: 'a', filter: { prefix: 'a/' }, replicate: false }]);
    expect(decideByKey(prefixOnly, 'b', defaults)).toMatchObject({ rule: DEFAULT_RULE });
    expect(decideByKey(sample, 'tmp/x', defaults)).toMatchObject({ rule: 'tmp' });
    expect(decideByKey(sample, 'photos/x', defaults)).toBeUndefined();
  });
});

describe('validation', () => {
  it('names the rule and the field of every problem', () => {
    expect(
      problems([
        { id: 'ok', filter: { prefix: 'a/' } },
        { id: 'bad', filter: { prefix: 7 }, drStorageClass: 'COLD' },
        { filter: { prefix: 'c/' } },
        { id: 'typo', filter: { prefx: 'd/' } },
      ]),
    ).toEqual([
      'rule 2 ("bad") filter.prefix must be a string',
      expect.stringMatching(/^rule 2 \("bad"\) drStorageClass must be one of STANDARD, /),
      'rule 3 id is required',
      'rule 4 ("typo") filter has unknown field(s) prefx',
    ]);
  });

  it('reports a rule that can never match: more tags than an object can have, impossible tag keys or values', () => {
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
    expect(problems([{ id: 'many', filter: { tags: eleven } }])).toEqual([
      'rule 1 ("many") filter.tags has 11 tags, but an S3 object has at most 10: the rule can never match',
    ]);
    expect(problems([{ id: 'long', filter: { tags: { ['k'.repeat(129)]: 'v' } } }])[0]).toMatch(
      /^rule 1 \("long"\) filter.tags key .* is not a possible S3 tag key/,
    );
    expect(problems([{ id: 'v', filter: { tags: { k: 'v'.repeat(257) } } }])[0]).toMatch(
      /filter.tags.k is longer/,
    );
  });

  it('reports a rule that an earlier rule shadows completely', () => {
    expect(
      problems([
        { id: 'logs', filter: { prefix: 'logs/' }, replicate: false },
        { id: 'audit', filter: { prefix: 'logs/audit/' } },
      ]),
    ).toEqual([
      'rule 2 ("audit") can never apply: rule 1 ("logs") comes first and matches every key it matches (move the narrower rule up, or remove it)',
    ]);
    expect(
      problems([
        { id: 'all', filter: {} },
        { id: 'x', filter: { tags: { a: 'b' } } },
      ])[0],
    ).toMatch(/rule 2 \("x"\) can never apply: rule 1 \("all"\)/);
    // A narrower rule first is the way to carve an exception out of a broader one.
    expect(
      rules([
        { id: 'audit', filter: { prefix: 'logs/audit/' } },
        { id: 'logs', filter: { prefix: 'logs/' }, replicate: false },
      ]),
    ).toHaveLength(2);
    expect(
      problems([
        { id: 'a', filter: { tags: { t: '1' } } },
        { id: 'b', filter: { prefix: 'p/', tags: { t: '1', u: '2' } } },
      ])[0],
    ).toMatch(/rule 2 \("b"\) can never apply/);
  });

  it('refuses settings on an exclude rule, and repeated ids', () => {
    expect(
      problems([
        { id: 'x', filter: { prefix: 'x/' }, replicate: false, drStorageClass: 'GLACIER' },
        { id: 'x', filter: { prefix: 'y/' } },
      ]),
    ).toEqual([
      'rule 1 ("x") drStorageClass has no effect: the rule excludes its keys (replicate: false)',
      'rule 2 ("x") id is used by an earlier rule; ids must be unique',
    ]);
  });
});

describe('S3DR_RULES (cold start)', () => {
  const env = {
    S3DR_SOURCE_BUCKETS: 'source-bucket',
    S3DR_SOURCE_REGION: 'eu-west-1',
    S3DR_DR_BUCKET: 'dr-bucket',
    S3DR_DR_REGION: 'eu-central-1',
  };

  it('reads the rules from JSON; unset means none', () => {
    expect(loadConfig(env).rules).toEqual([]);
    const config = loadConfig({
      ...env,
      S3DR_RULES: '[{"id":"tmp","filter":{"prefix":"tmp/"},"replicate":false}]',
    });
    expect(config.rules).toEqual([{ id: 'tmp', filter: { prefix: 'tmp/' }, replicate: false }]);
  });

  it('fails with the variable, the rule and the field', () => {
    expect(() => loadConfig({ ...env, S3DR_RULES: '[{"id":"a","deletePolicy":"keep"}]' })).toThrow(
      'Invalid s3-dr configuration: S3DR_RULES rule 1 ("a") deletePolicy must be "mirror" or "retain"',
    );
    expect(() => loadConfig({ ...env, S3DR_RULES: '{"id":"a"}' })).toThrow(
      'S3DR_RULES must be a list of rules',
    );
    expect(() => loadConfig({ ...env, S3DR_RULES: '[{' })).toThrow(/S3DR_RULES is not JSON/);
  });

  it('refuses tag filters without copyTags: the DR copy’s tags decide once the source is gone', () => {
    const tagRule = '[{"id":"legal","filter":{"tags":{"retention":"legal"}}}]';
    expect(() => loadConfig({ ...env, S3DR_RULES: tagRule, S3DR_COPY_TAGS: 'false' })).toThrow(
      /S3DR_RULES has rules that filter by tags, which need S3DR_COPY_TAGS=true/,
    );
    expect(loadConfig({ ...env, S3DR_RULES: tagRule }).rules).toHaveLength(1);
  });
});

describe('event filters', () => {
  it('cuts prefix-only exclusions no earlier replicating rule overlaps', () => {
    expect(eventKeyFilters(sample)).toEqual({ excludePrefixes: ['tmp/'], includePrefixes: undefined });
    const overlapped = rules([
      { id: 'keep', filter: { prefix: 'logs/audit/' } },
      { id: 'logs', filter: { prefix: 'logs/' }, replicate: false },
      { id: 'cache', filter: { prefix: 'cache/' }, replicate: false },
    ]);
    expect(eventKeyFilters(overlapped).excludePrefixes).toEqual(['cache/']);
  });

  it('limits events to the include prefixes when a catch-all exclusion ends the list', () => {
    const only = rules([
      { id: 'a2', filter: { prefix: 'invoices/2026/', tags: { x: 'y' } }, drStorageClass: 'GLACIER' },
      { id: 'a', filter: { prefix: 'invoices/' } },
      { id: 'b', filter: { prefix: 'contracts/' } },
      { id: 'rest', filter: {}, replicate: false },
    ]);
    expect(eventKeyFilters(only)).toEqual({
      excludePrefixes: [],
      includePrefixes: ['contracts/', 'invoices/'],
    });
  });

  it('filters nothing by a prefix S3 would URL-encode in an event key', () => {
    const spaced = rules([{ id: 'x', filter: { prefix: 'my logs/' }, replicate: false }]);
    expect(eventKeyFilters(spaced).excludePrefixes).toEqual([]);
  });
});

describe('ingest', () => {
  /** An S3 notification record, keys URL-encoded as S3 sends them ("Event message structure"). */
  const record = (key: string) => ({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventTime: '2026-11-25T10:00:00.000Z',
    eventName: 'ObjectCreated:Put',
    s3: {
      bucket: { name: 'source-bucket' },
      object: { key, size: 1, eTag: '0123456789abcdef0123456789abcdef', sequencer: '0055AED6DCD90281E5' },
    },
  });

  it('ignores, with the rule, the events of keys a prefix rule excludes; queues those a tag rule may match', async () => {
    const sent: Task[] = [];
    const result = await ingestNotification(
      { Records: [record('tmp/a'), record('photos/b.jpg'), record('invoices/c.pdf')] },
      {
        queue: { send: async (tasks) => void sent.push(...tasks) },
        sourceBuckets: ['source-bucket'],
        rules: sample,
      },
    );
    expect(sent.map((t) => t.key)).toEqual(['photos/b.jpg', 'invoices/c.pdf']);
    expect(result.ignored).toEqual([
      { reason: 'excluded-by-rule', detail: 'rule tmp excludes s3://source-bucket/tmp/a' },
    ]);
    expect(excludedByKey(sample, 'logs/x')).toBeUndefined(); // logs/ is excluded only with keep=no
  });
});
