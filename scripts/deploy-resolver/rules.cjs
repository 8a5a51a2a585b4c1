'use strict';
/** The `rules` parameter (replication rules): parsed and checked with the functions' own code. */
const { ParamError } = require('./params.cjs');

/**
 * The replication-rules module the functions use (lib/core/replication-rules.ts), loaded here too so that
 * `sls package` and a cold start judge a rule set with the same code. Node 22 requires a `.ts` ES module
 * from CommonJS as is (type stripping, require(esm)); loaded on first use only.
 */
const replicationRules = () => require('../../lib/core/replication-rules.ts');
/**
 * Lambda keeps at most 4 KB of environment variables per function ("Lambda quotas", AWS Lambda Developer
 * Guide); the rules travel in S3DR_RULES beside about 1.5 KB of other settings.
 */
const MAX_RULES_JSON_BYTES = 2048;

/**
 * The `rules` parameter: a YAML list in `params:`, or its JSON text (`--param="rules=[…]"`); unset = no
 * rules. Checked with lib/core/replication-rules.ts; each problem names the rule and the field.
 */
function readRules(value, copyTags) {
  if (value === null || value === undefined || value === '') return [];
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch (error) {
      throw new ParamError('rules', `is not a YAML list or JSON (${error.message})`);
    }
  }
  const { parseRules, rulesNeedTags } = replicationRules();
  const parsed = parseRules(list);
  if (!parsed.ok) throw new ParamError('rules', parsed.problems.join('; '));
  if (rulesNeedTags(parsed.rules) && !copyTags) {
    throw new ParamError(
      'rules',
      'has rules that filter by tags, which need copyTags: true (tag changes move keys between rules)',
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(parsed.rules), 'utf8');
  if (bytes > MAX_RULES_JSON_BYTES) {
    throw new ParamError(
      'rules',
      `takes ${bytes} bytes as JSON, more than the ${MAX_RULES_JSON_BYTES} its environment variable may use (Lambda allows 4 KB in all)`,
    );
  }
  return parsed.rules;
}

/** S3DR_RULES: the checked rules as JSON, or null (unset) when there are none. */
const rulesJson = (s) => (s.rules.length > 0 ? JSON.stringify(s.rules) : null);

/** Which key prefixes the rules leave replicated or exclude (for event filters). */
const eventKeyFilters = (s) => replicationRules().eventKeyFilters(s.rules);

module.exports = { readRules, rulesJson, eventKeyFilters };
