import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CONFIG_VARIABLES, configVariableProblem } from '../lib/core/config.ts';
import { loadLocalSettings } from './settings.ts';

/** Variables a user may set when starting the local runtime, e.g. `S3DR_SOURCE_BUCKETS=a,b npm start`. */
export const USER_OVERRIDABLE = [
  'S3DR_SOURCE_BUCKETS',
  'S3DR_DR_BUCKET',
  'S3DR_DELETE_POLICY',
  'S3DR_KEY_LAYOUT',
  // Replication rules: JSON, or the path of a JSON file (rulesVariable); tag rules need S3DR_COPY_TAGS=true.
  'S3DR_RULES',
  'S3DR_COPY_TAGS',
];

/**
 * S3DR_RULES as the functions read it (JSON text): the value itself when it is JSON (starts with `[`),
 * otherwise the content of the file it names (relative to the current folder), so a rule set can live in
 * a file: `S3DR_RULES=rules.json npm start`.
 */
export function rulesVariable(value: string): string {
  return value.trim().startsWith('[') ? value : readFileSync(resolve(value), 'utf8');
}

/**
 * The environment the handlers run with against a local runtime on `port`: the `local` stage of
 * serverless.yml, the user's overrides, then the endpoint and queue URL of this very emulator. The
 * queue URL is addressed to 127.0.0.1 because fauxqs's own URLs use `sqs.<region>.localhost`, which
 * does not resolve everywhere.
 */
export async function localEnv(
  port: number,
  overrides: Record<string, string> = {},
  from: Record<string, string | undefined> = process.env,
): Promise<Record<string, string>> {
  const settings = await loadLocalSettings();
  const merged: Record<string, string> = {};
  for (const env of Object.values(settings.functionEnv)) Object.assign(merged, env);
  // Lambda-only: the bundles' source maps. Locally the TypeScript runs as is.
  delete merged.NODE_OPTIONS;
  for (const name of USER_OVERRIDABLE) {
    const value = from[name];
    if (value) merged[name] = value;
  }
  Object.assign(merged, overrides);
  if (merged.S3DR_RULES) merged.S3DR_RULES = rulesVariable(merged.S3DR_RULES);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ...merged,
    S3DR_ENDPOINT_URL: endpoint,
    S3DR_FORCE_PATH_STYLE: 'true',
    S3DR_QUEUE_URL: `${endpoint}/000000000000/${settings.queue.name}`,
    S3DR_JOB_QUEUE_URL: `${endpoint}/000000000000/${settings.jobQueue.name}`,
  };
}

/** What each local command reads from the shell, besides the variables every command reads. */
const COMMAND_VARIABLES = {
  start: [...USER_OVERRIDABLE, 'S3DR_VERIFY_INTERVAL_MS', 'S3DR_DATA_DIR'],
  restore: [
    'S3DR_RESTORE_TARGETS',
    'S3DR_RESTORE_TARGET_REGION',
    'S3DR_RESTORE_CONCURRENCY',
    'S3DR_MULTIPART_THRESHOLD',
    'S3DR_PART_SIZE',
    'S3DR_PART_CONCURRENCY',
    'S3DR_STACK_ROLE',
    'S3DR_RULES',
    'S3DR_COPY_TAGS',
  ],
  verify: [
    'S3DR_VERIFY_CONCURRENCY',
    'S3DR_VERIFY_GRACE_SECONDS',
    'S3DR_SAFETY_MARGIN_MS',
    'S3DR_RULES',
    'S3DR_COPY_TAGS',
  ],
} as const;

export type LocalCommand = keyof typeof COMMAND_VARIABLES;

/** The functions' settings a person may override from the shell for this local command. */
export function overridableBy(command: LocalCommand): readonly string[] {
  return COMMAND_VARIABLES[command].filter((name) => CONFIG_VARIABLES.includes(name));
}

const localSchema = {
  S3DR_DATA_DIR: z.string().min(1, 'must be a folder'),
  S3DR_PORT: z.coerce
    .number({ message: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be a port number (0 to 65535; 0 picks a free one)')
    .max(65535, 'must be a port number (0 to 65535; 0 picks a free one)'),
  S3DR_VERIFY_INTERVAL_MS: z.coerce
    .number({ message: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .refine((ms) => ms === 0 || ms >= 1000, 'must be 0 (never) or at least 1000 ms'),
};

/** Where `npm start` keeps buckets, objects and queues between runs (ignored by git). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.s3dr-data', import.meta.url));

/**
 * Variables the local runtime sets for its own processes, and the test setup for the request recorder
 * (local/call-recorder.ts); a person never needs to.
 */
const INTERNAL = ['S3DR_EMULATOR_PORT', 'S3DR_EMULATOR_DATA_DIR', 'S3DR_RECORD_CALLS', 'S3DR_IAM_CALLS_DIR'];

export class LocalSettingsError extends Error {
  override name = 'LocalSettingsError';
}

/**
 * Checks every `S3DR_*` variable of the shell before a local command starts: a value that is wrong, or a
 * name s3-dr does not know (a typo would otherwise be ignored in silence), stops the command with a
 * message naming it, with the closest known name. A known setting this command does not read (say, a
 * deployment setting) is only a warning.
 */
export function checkLocalVariables(
  command: LocalCommand,
  from: Record<string, string | undefined> = process.env,
): { port: number; verifyIntervalMs: number; dataDir: string; warnings: string[] } {
  const reads = new Set<string>(['S3DR_PORT', ...COMMAND_VARIABLES[command]]);
  const known = [
    ...new Set([
      ...CONFIG_VARIABLES,
      ...Object.keys(localSchema),
      ...INTERNAL,
      ...Object.values(COMMAND_VARIABLES).flat(),
    ]),
  ];
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(from)) {
    if (!name.startsWith('S3DR_') || value === undefined) continue;
    if (!known.includes(name)) {
      const near = closest(name, known);
      problems.push(`${name} is not an s3-dr variable${near ? ` (did you mean ${near}?)` : ''}`);
    } else if (!reads.has(name)) {
      warnings.push(`${name} is set but \`${commandLine(command)}\` does not read it; it is ignored`);
    } else if (name in localSchema) {
      const parsed = localSchema[name as keyof typeof localSchema].safeParse(value);
      if (!parsed.success)
        problems.push(`${name} is ${JSON.stringify(value)}: ${parsed.error.issues[0]?.message}`);
    } else if (name === 'S3DR_RULES') {
      let text: string | undefined;
      try {
        text = rulesVariable(value);
      } catch (error) {
        problems.push(
          `S3DR_RULES is ${JSON.stringify(value)}: neither JSON nor a readable file (${(error as Error).message})`,
        );
      }
      const problem = text === undefined ? undefined : configVariableProblem(name, text);
      if (problem) problems.push(text === value ? problem : `${problem} (from the file ${value})`);
    } else {
      const problem = configVariableProblem(name, value);
      if (problem) problems.push(problem);
    }
  }
  if (problems.length > 0) {
    throw new LocalSettingsError(`${commandLine(command)}: ${problems.join('; ')}`);
  }
  return {
    port: Number(from.S3DR_PORT ?? 4566),
    verifyIntervalMs: Number(from.S3DR_VERIFY_INTERVAL_MS ?? 60_000),
    dataDir: resolve(from.S3DR_DATA_DIR || DEFAULT_DATA_DIR),
    warnings,
  };
}

function commandLine(command: LocalCommand): string {
  return command === 'start' ? 'npm start' : `npm run ${command}`;
}

/** The known name nearest to a misspelt one (at most three edits away), if any. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each cost one. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
