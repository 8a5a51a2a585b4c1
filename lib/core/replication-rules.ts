/**
 * Replication rules (issue #17): an ordered list of filters — a key prefix, object tags, or both — each
 * with its own settings. The first rule whose filter matches a key decides how it is protected; keys no
 * rule matches follow the stage's defaults. This one pure module holds the schema, the matching, the
 * analysis of rule sets (rules that can never match, rules an earlier one hides) and the event filters a
 * rule set allows. It is used by config (S3DR_RULES), replicate, verify, restore and — loaded with
 * `require` from CommonJS — by the deployment resolver (scripts/deploy-resolver/), so `sls package`
 * and a cold start judge a rule set with the same code.
 *
 * Semantics follow S3 Replication's rule filters ("Replication configuration file elements", Amazon S3
 * User Guide): a filter with both a prefix and tags matches only keys with that prefix AND every tag
 * (key and value); an empty filter matches every key. Unlike S3 Replication's numeric priorities, the
 * order of the list is the priority: first match wins.
 */

import { STORAGE_CLASSES, type StorageClass } from './storage-classes.ts';
import * as z from './zod.ts';
import { zodProblems } from './zod-problems.ts';

/**
 * S3's limits on object tags ("Categorizing your storage using tags", Amazon S3 User Guide): at most 10
 * tags per object, keys up to 128 and values up to 256 Unicode characters. A filter beyond them can never
 * match an object.
 */
export const MAX_OBJECT_TAGS = 10;
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 256;
/** S3 keys are at most 1,024 bytes of UTF-8: a longer prefix matches nothing. */
const MAX_PREFIX_BYTES = 1024;

const ruleSchema = z.strictObject({
  /** Names the rule in errors, logs, verify and restore reports. */
  id: z
    .string({ message: 'must be a string' })
    .check(z.regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters from A-Z a-z 0-9 . _ -')),
  filter: z._default(
    z.strictObject({
      prefix: z.optional(z.string({ message: 'must be a string' })),
      tags: z.optional(z.record(z.string(), z.string({ message: 'must be a string' }))),
    }),
    {},
  ),
  /** false: an exclude rule — matching keys are neither replicated nor verified. */
  replicate: z._default(z.boolean({ message: 'must be true or false' }), true),
  drStorageClass: z.optional(
    z.enum(STORAGE_CLASSES, { message: `must be one of ${STORAGE_CLASSES.join(', ')}` }),
  ),
  deletePolicy: z.optional(z.enum(['mirror', 'retain'], { message: 'must be "mirror" or "retain"' })),
});

export type ReplicationRule = z.infer<typeof ruleSchema>;

/** The settings a rule (or the stage, for keys no rule matches) gives a key. */
export interface RuleDefaults {
  drStorageClass: StorageClass;
  deletePolicy: 'mirror' | 'retain';
}

/** The id reported for keys that no rule matches. */
export const DEFAULT_RULE = '(default)';

export interface RuleDecision extends RuleDefaults {
  /** The matching rule's id, or {@link DEFAULT_RULE}. */
  rule: string;
  replicate: boolean;
}

/** The result of reading a rule set: the rules, or every problem, each naming the rule and the field. */
export type ParsedRules = { ok: true; rules: ReplicationRule[] } | { ok: false; problems: string[] };

function label(index: number, raw: unknown): string {
  const id = raw && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? `rule ${index + 1} ("${id}")` : `rule ${index + 1}`;
}

/** The value at a path of an unvalidated input (to tell a missing field from a wrong one). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

const utf16Length = (s: string) => s.length;

/**
 * Reads a rule set from a parsed JSON/YAML value (an array of rules; `null`/`undefined` = no rules) and
 * checks it: the shape of each rule, then what S3 makes impossible (a filter that can never match), what
 * makes no sense (storage class or delete policy on an exclude rule, two rules with one id) and rules an
 * earlier rule hides completely ({@link shadowingRule}). Every problem names the rule and the field.
 */
export function parseRules(value: unknown): ParsedRules {
  if (value === null || value === undefined) return { ok: true, rules: [] };
  if (!Array.isArray(value)) return { ok: false, problems: ['must be a list of rules'] };
  const problems: string[] = [];
  const rules: ReplicationRule[] = [];
  value.forEach((raw, index) => {
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      const wording = {
        root: 'rule',
        separator: ' ',
        unknownKey: (key: string, field: string) => `${field || 'rule'} has unknown field(s) ${key}`,
        message: (issue: z.core.$ZodIssue) =>
          issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined
            ? 'is required'
            : issue.message,
      };
      for (const problem of zodProblems(parsed.error, wording))
        problems.push(`${label(index, raw)} ${problem}`);
      return;
    }
    rules.push(parsed.data);
  });
  if (problems.length > 0) return { ok: false, problems };
  const ids = new Set<string>();
  rules.forEach((rule, index) => {
    const name = label(index, rule);
    if (ids.has(rule.id)) problems.push(`${name} id is used by an earlier rule; ids must be unique`);
    ids.add(rule.id);
    const tags = Object.entries(rule.filter.tags ?? {});
    if (tags.length > MAX_OBJECT_TAGS) {
      problems.push(
        `${name} filter.tags has ${tags.length} tags, but an S3 object has at most ${MAX_OBJECT_TAGS}: the rule can never match`,
      );
    }
    for (const [k, v] of tags) {
      if (k.length === 0 || utf16Length(k) > MAX_TAG_KEY_CHARS) {
        problems.push(
          `${name} filter.tags key ${JSON.stringify(k)} is not a possible S3 tag key (1-${MAX_TAG_KEY_CHARS} characters): the rule can never match`,
        );
      }
      if (utf16Length(v) > MAX_TAG_VALUE_CHARS) {
        problems.push(
          `${name} filter.tags.${k} is longer than an S3 tag value can be (${MAX_TAG_VALUE_CHARS} characters): the rule can never match`,
        );
      }
    }
    const prefix = rule.filter.prefix;
    if (prefix !== undefined && Buffer.byteLength(prefix, 'utf8') > MAX_PREFIX_BYTES) {
      problems.push(
        `${name} filter.prefix is longer than an S3 key can be (${MAX_PREFIX_BYTES} UTF-8 bytes): the rule can never match`,
      );
    }
    if (!rule.replicate) {
      for (const field of ['drStorageClass', 'deletePolicy'] as const) {
        if (rule[field] !== undefined) {
          problems.push(`${name} ${field} has no effect: the rule excludes its keys (replicate: false)`);
        }
      }
    }
    const hider = shadowingRule(rules, index);
    if (hider !== undefined) {
      problems.push(
        `${name} can never apply: ${label(hider, rules[hider])} comes first and matches every key it matches ` +
          '(move the narrower rule up, or remove it)',
      );
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rules };
}

/** Reads a rule set from its JSON text (S3DR_RULES, or the resolver's `rules` parameter as a string). */
export function parseRulesJson(text: string | undefined): ParsedRules {
  if (text === undefined || text.trim() === '') return { ok: true, rules: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`is not JSON (${(error as Error).message})`] };
  }
  return parseRules(value);
}

/** True when every key (with its tags) that `b` matches is also matched by `a`. */
function covers(a: ReplicationRule, b: ReplicationRule): boolean {
  const pa = a.filter.prefix ?? '';
  const pb = b.filter.prefix ?? '';
  if (!pb.startsWith(pa)) return false;
  const tb = b.filter.tags ?? {};
  return Object.entries(a.filter.tags ?? {}).every(([k, v]) => tb[k] === v);
}

/** The index of the first earlier rule that matches every key rule `index` matches, if any. */
export function shadowingRule(rules: readonly ReplicationRule[], index: number): number | undefined {
  const rule = rules[index];
  if (!rule) return undefined;
  for (let i = 0; i < index; i++) {
    const earlier = rules[i];
    if (earlier && covers(earlier, rule)) return i;
  }
  return undefined;
}

function decision(rule: ReplicationRule | undefined, defaults: RuleDefaults): RuleDecision {
  if (!rule) return { rule: DEFAULT_RULE, replicate: true, ...defaults };
  return {
    rule: rule.id,
    replicate: rule.replicate,
    drStorageClass: rule.drStorageClass ?? defaults.drStorageClass,
    deletePolicy: rule.deletePolicy ?? defaults.deletePolicy,
  };
}

function tagsMatch(filter: Record<string, string> | undefined, tags: Record<string, string>): boolean {
  return Object.entries(filter ?? {}).every(([k, v]) => tags[k] === v);
}

const hasTagFilter = (rule: ReplicationRule) => Object.keys(rule.filter.tags ?? {}).length > 0;

/** True when some rule filters by tags: deciding a key may then need its tags (GetObjectTagging). */
export function rulesNeedTags(rules: readonly ReplicationRule[]): boolean {
  return rules.some(hasTagFilter);
}

/**
 * Decides a key from the key alone, when the rules allow: `undefined` when a rule with a tag filter and a
 * matching prefix comes before any rule that settles the key, so its tags must be read.
 */
export function decideByKey(
  rules: readonly ReplicationRule[],
  key: string,
  defaults: RuleDefaults,
): RuleDecision | undefined {
  for (const rule of rules) {
    if (!key.startsWith(rule.filter.prefix ?? '')) continue;
    if (hasTagFilter(rule)) return undefined;
    return decision(rule, defaults);
  }
  return decision(undefined, defaults);
}

/**
 * The id of the exclude rule that settles a key from the key alone, if any: such a key is dropped
 * whatever its tags, so ingest need not queue it.
 */
export function excludedByKey(rules: readonly ReplicationRule[], key: string): string | undefined {
  for (const rule of rules) {
    if (!key.startsWith(rule.filter.prefix ?? '')) continue;
    if (hasTagFilter(rule)) return undefined;
    return rule.replicate ? undefined : rule.id;
  }
  return undefined;
}

/**
 * The first rule matching the key and its tags (or the stage defaults). `tags` is called at most once,
 * and only when a rule with a tag filter and a matching prefix is reached: rule sets without tag filters,
 * and keys an earlier prefix rule settles, cost no GetObjectTagging.
 */
export async function decideRule(
  rules: readonly ReplicationRule[],
  key: string,
  defaults: RuleDefaults,
  tags: () => Promise<Record<string, string>>,
): Promise<RuleDecision> {
  let known: Record<string, string> | undefined;
  for (const rule of rules) {
    if (!key.startsWith(rule.filter.prefix ?? '')) continue;
    if (hasTagFilter(rule)) {
      known ??= await tags();
      if (!tagsMatch(rule.filter.tags, known)) continue;
    }
    return decision(rule, defaults);
  }
  return decision(undefined, defaults);
}

/** Characters S3 writes unencoded into an event's object key: prefixes made of them filter exactly. */
const PLAIN_PREFIX = /^[A-Za-z0-9/._-]+$/;

/** Drops prefixes that another prefix in the list already covers (`a/` covers `a/b/`), sorted. */
function outermost(prefixes: string[]): string[] {
  const sorted = [...new Set(prefixes)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(q)));
}

/**
 * What the event sources may filter out before ingest, because replicate would drop those events anyway:
 *
 * - `excludePrefixes`: prefixes whose every key is excluded whatever its tags — a prefix-only exclude rule
 *   that no earlier replicating rule overlaps. EventBridge can drop them (`anything-but` prefix).
 * - `includePrefixes`: when the rule set ends with a catch-all exclude and every replicating rule before it
 *   has a prefix, only those prefixes can hold replicated keys. S3 notifications (one prefix per
 *   configuration, no negation) can be limited to them; they never overlap (S3 refuses overlapping
 *   configurations for one event type).
 *
 * Only prefixes of characters S3 never URL-encodes in events are used (event keys are URL-encoded, so any
 * other prefix would be compared in another form); a rule set that allows no exact filter yields none,
 * and every event reaches ingest as without rules.
 */
export function eventKeyFilters(rules: readonly ReplicationRule[]): {
  excludePrefixes: string[];
  includePrefixes: string[] | undefined;
} {
  const excluded: string[] = [];
  rules.forEach((rule, index) => {
    const p = rule.filter.prefix;
    if (rule.replicate || hasTagFilter(rule) || !p || !PLAIN_PREFIX.test(p)) return;
    const overlapped = rules
      .slice(0, index)
      .some(
        (e) => e.replicate && (p.startsWith(e.filter.prefix ?? '') || (e.filter.prefix ?? '').startsWith(p)),
      );
    if (!overlapped) excluded.push(p);
  });
  let includePrefixes: string[] | undefined;
  const last = rules.at(-1);
  if (last && !last.replicate && !last.filter.prefix && !hasTagFilter(last)) {
    const kept = rules.slice(0, -1).filter((r) => r.replicate);
    const prefixes = kept.map((r) => r.filter.prefix ?? '');
    if (prefixes.every((p) => p !== '' && PLAIN_PREFIX.test(p))) includePrefixes = outermost(prefixes);
  }
  return { excludePrefixes: outermost(excluded), includePrefixes };
}
