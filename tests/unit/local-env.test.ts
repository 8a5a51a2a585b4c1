import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { checkLocalVariables, DEFAULT_DATA_DIR, rulesVariable } from '../../local/env.ts';

describe('the local commands check every S3DR_* variable of the shell before they start', () => {
  it('takes defaults when nothing is set', () => {
    expect(checkLocalVariables('start', {})).toEqual({
      port: 4566,
      verifyIntervalMs: 60_000,
      dataDir: DEFAULT_DATA_DIR,
      warnings: [],
    });
    expect(DEFAULT_DATA_DIR).toMatch(/\/\.s3dr-data$/);
  });

  it('reads a good port and interval, including 0 for "pick a port" and "never verify"', () => {
    expect(checkLocalVariables('start', { S3DR_PORT: '0', S3DR_VERIFY_INTERVAL_MS: '0' })).toMatchObject({
      port: 0,
      verifyIntervalMs: 0,
    });
  });

  it('refuses a negative verify interval, which would run the verifier in a tight loop', () => {
    expect(() => checkLocalVariables('start', { S3DR_VERIFY_INTERVAL_MS: '-1' })).toThrow(
      'npm start: S3DR_VERIFY_INTERVAL_MS is "-1": must be 0 (never) or at least 1000 ms',
    );
  });

  it('refuses a port that is not a number, naming it (not a NaN RangeError)', () => {
    expect(() => checkLocalVariables('start', { S3DR_PORT: 'abc' })).toThrow(
      'npm start: S3DR_PORT is "abc": must be a port number',
    );
    expect(() => checkLocalVariables('restore', { S3DR_PORT: '70000' })).toThrow(
      'npm run restore: S3DR_PORT is "70000": must be a port number (0 to 65535; 0 picks a free one)',
    );
  });

  it('refuses a misspelt name with the closest known one, instead of ignoring it', () => {
    expect(() => checkLocalVariables('start', { S3DR_DELETE_POLCY: 'mirror' })).toThrow(
      'npm start: S3DR_DELETE_POLCY is not an s3-dr variable (did you mean S3DR_DELETE_POLICY?)',
    );
    expect(() => checkLocalVariables('start', { S3DR_WHATEVER_ELSE: '1' })).toThrow(
      /S3DR_WHATEVER_ELSE is not an s3-dr variable$/,
    );
  });

  it('checks a setting the command overrides with the functions’ own schema', () => {
    expect(() => checkLocalVariables('start', { S3DR_DELETE_POLICY: 'keep' })).toThrow(
      /S3DR_DELETE_POLICY is "keep": Invalid option: expected one of "mirror"\|"retain"/,
    );
    expect(() => checkLocalVariables('verify', { S3DR_VERIFY_CONCURRENCY: '0' })).toThrow(
      /npm run verify: S3DR_VERIFY_CONCURRENCY is "0"/,
    );
  });

  it('names every problem at once', () => {
    expect(() => checkLocalVariables('start', { S3DR_PORT: 'x', S3DR_DR_BUCKT: 'b' })).toThrow(
      /S3DR_PORT is "x".*; S3DR_DR_BUCKT is not an s3-dr variable \(did you mean S3DR_DR_BUCKET\?\)/,
    );
  });

  it('only warns about a known setting that this command does not read', () => {
    const { warnings } = checkLocalVariables('start', { S3DR_RESTORE_TARGETS: 'copy-bucket' });
    expect(warnings).toEqual(['S3DR_RESTORE_TARGETS is set but `npm start` does not read it; it is ignored']);
  });
});

describe('S3DR_RULES for the local commands: JSON or a file, checked like S3DR_RULES at cold start', () => {
  const dir = mkdtempSync(join(tmpdir(), 's3dr-rules-'));
  const good = '[{"id":"tmp","filter":{"prefix":"tmp/"},"replicate":false}]';

  it('accepts rules as JSON, or from the file it names', () => {
    const file = join(dir, 'rules.json');
    writeFileSync(file, good);
    expect(checkLocalVariables('start', { S3DR_RULES: good }).warnings).toEqual([]);
    expect(checkLocalVariables('verify', { S3DR_RULES: file }).warnings).toEqual([]);
    expect(rulesVariable(file)).toBe(good);
  });

  it('refuses a bad rule set with the rule and the field, and names the file it came from', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '[{"id":"tmp","filter":{"prefix":"tmp/"},"replicate":"no"}]');
    expect(() => checkLocalVariables('start', { S3DR_RULES: file })).toThrow(
      /^npm start: S3DR_RULES is ".*": rule 1 \("tmp"\) replicate must be true or false \(from the file .*bad.json\)$/,
    );
  });

  it('refuses a value that is neither JSON nor a readable file', () => {
    expect(() => checkLocalVariables('start', { S3DR_RULES: join(dir, 'missing.json') })).toThrow(
      /S3DR_RULES is ".*missing.json": neither JSON nor a readable file \(ENOENT/,
    );
  });
});
