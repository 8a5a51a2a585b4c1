/**
 * Configuration errors fail at cold start: every handler module, when Lambda (here: a child Node 22
 * process) first imports it with a bad environment, throws one ConfigError naming the variable. Moved out
 * of tests/unit/config.test.ts, which checks loadConfig itself without starting a process.
 */
import { describe, expect, it } from '@jest/globals';
import { runProcess } from '../helpers/run-process.ts';
import { root } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

const valid: Record<string, string> = {
  S3DR_SOURCE_BUCKETS: 'source-bucket',
  S3DR_SOURCE_REGION: 'eu-west-1',
  S3DR_DR_BUCKET: 'dr-bucket',
  S3DR_DR_REGION: 'eu-central-1',
  S3DR_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/s3-dr-replication',
};

/** The problems a ConfigError message lists, one per bad variable. */
const problems = (message: string) =>
  message.replace('Invalid s3-dr configuration: ', '').split(/; (?=S3DR_)/);

/** A Node cold start takes about a second on a quiet machine; the bound only stops a hung import. */
const COLD_START_MS = 60_000;

/**
 * Imports a handler module in a fresh Node process (the one npm pinned: this test runs under it) with
 * exactly `env`, as Lambda does at cold start; reports what the import threw.
 */
async function coldStart(handler: string, env: Record<string, string>) {
  const script = `
    try {
      await import('./functions/${handler}.ts');
      console.log(JSON.stringify({ loaded: true }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, message: error.message }));
    }`;
  const { stdout } = await runProcess(
    process.execPath,
    ['--no-warnings', '--input-type=module', '-e', script],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        ...env,
      },
      timeoutMs: scaled(COLD_START_MS),
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
    loaded?: true;
    name?: string;
    message?: string;
  };
}

describe('a handler at cold start', () => {
  it('runs these checks on Node 22, as Lambda does', () => {
    expect(process.version).toMatch(/^v22\./);
  });

  it.each(['ingest', 'replicate', 'verify', 'restore'])(
    '%s loads with a valid environment',
    async (handler) => {
      expect(await coldStart(handler, valid)).toEqual({ loaded: true });
    },
    scaled(COLD_START_MS),
  );

  it.each([
    ['ingest', { S3DR_DR_BUCKET: undefined }, 'S3DR_DR_BUCKET is not set'],
    ['replicate', { S3DR_SOURCE_REGION: 'eu-west' }, 'S3DR_SOURCE_REGION is "eu-west"'],
    ['verify', { S3DR_DELETE_POLICY: 'mirorr' }, 'S3DR_DELETE_POLICY is "mirorr"'],
    ['restore', { S3DR_SOURCE_BUCKETS: undefined }, 'S3DR_SOURCE_BUCKETS is not set'],
    ['ingest', { S3DR_QUEUE_URL: undefined }, 'S3DR_QUEUE_URL is not set'],
  ])(
    '%s fails to load with ConfigError naming the variable (%j)',
    async (handler, change, expected) => {
      const env = Object.fromEntries(
        Object.entries({ ...valid, ...change }).filter((e): e is [string, string] => e[1] !== undefined),
      );
      const result = await coldStart(handler, env);
      expect(result.name).toBe('ConfigError');
      expect(result.message).toContain(expected);
      expect(problems(result.message ?? '')).toHaveLength(1);
    },
    scaled(COLD_START_MS),
  );
});
