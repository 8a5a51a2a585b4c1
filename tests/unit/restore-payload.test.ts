import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { decodeCursor, encodeCursor, requestFingerprint } from '../../lib/restore/cursor.ts';
import { InvalidRestorePayloadError, parseRestorePayload } from '../../lib/restore/payload.ts';

const now = new Date('2026-11-25T12:00:00Z');
const parse = (input: unknown) => parseRestorePayload(input, now);
const problem = (input: unknown): string => {
  try {
    parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRestorePayloadError);
    return (error as Error).message;
  }
  throw new Error('the payload was accepted');
};

describe('restore payload', () => {
  it('fills in the safe defaults: dry run, ifDifferent, deleted keys included, Standard thaw for 7 days', () => {
    expect(parse({ prefix: 'photos/' })).toEqual({
      prefix: 'photos/',
      includeDeleted: true,
      overwrite: 'ifDifferent',
      dryRun: true,
      thawTier: 'Standard',
      thawDays: 7,
    });
  });

  it('accepts a full payload, and the same payload as JSON text', () => {
    const full = {
      source: 'source-bucket',
      keys: ['a.txt', 'dir/b c+d.txt'],
      asOf: '2026-11-24T18:30:00+01:00',
      includeDeleted: false,
      target: { bucket: 'restore-target', prefix: 'restored/', region: 'eu-central-1' },
      overwrite: 'never',
      dryRun: false,
      maxObjects: 500,
      cursor: 'abc',
      thawTier: 'Bulk',
      thawDays: 3,
    };
    expect(parse(full)).toEqual(full);
    expect(parse(JSON.stringify(full))).toEqual(full);
  });

  it('names each unknown field and lists the allowed ones, at the top level and in target', () => {
    const message = problem({
      prefix: '',
      dryrun: false,
      target: { bucket: 'restore-target', acl: 'public' },
    });
    expect(message).toMatch(
      /dryrun: is not a restore option \(allowed: source, keys, prefix, asOf, includeDeleted/,
    );
    expect(message).toMatch(/target\.acl: is not a restore option \(allowed: bucket, prefix, region\)/);
  });

  it.each([
    ['yesterday', /asOf: must be an ISO 8601 date-time with a time zone/],
    ['2026-11-24', /asOf: must be an ISO 8601 date-time with a time zone/],
    ['2026-11-24T10:00:00', /asOf: must be an ISO 8601 date-time with a time zone/],
    ['2026-02-30T10:00:00Z', /asOf: is not a real date and time/],
    ['2026-13-01T10:00:00Z', /asOf: must be an ISO 8601/],
    [
      '2027-01-01T00:00:00Z',
      /asOf: is in the future \(2027-01-01T00:00:00Z\); omit it to restore the newest versions/,
    ],
  ])('refuses the asOf %s with a message about asOf', (asOf, expected) => {
    expect(problem({ prefix: '', asOf })).toMatch(expected);
  });

  it('refuses both keys and prefix, and neither', () => {
    expect(problem({ keys: ['a'], prefix: 'b/' })).toBe(
      'Invalid restore payload: keys: and prefix are both set; give one of them',
    );
    expect(problem({})).toMatch(/keys: or prefix is required: a list of keys, or a prefix \(""/);
    expect(problem(undefined)).toMatch(/keys: or prefix is required/);
  });

  it.each([
    [{ prefix: '', dryRun: 'false' }, /dryRun: must be true or false \(a JSON boolean, not a string\)/],
    [{ prefix: '', includeDeleted: 1 }, /includeDeleted: must be true or false/],
    [{ keys: 'a.txt' }, /keys: must be a list of object keys/],
    [{ keys: [] }, /keys: must name at least one key/],
    [{ keys: ['a', 7] }, /keys\.1: must be a string \(an object key\)/],
    [{ prefix: 3 }, /prefix: must be a string \(a key prefix, "" for everything\)/],
    [{ prefix: '', maxObjects: 2.5 }, /maxObjects: must be a whole number/],
    [{ prefix: '', maxObjects: 0 }, /maxObjects: must be at least 1/],
    [{ prefix: '', overwrite: 'yes' }, /overwrite: must be one of never, ifDifferent, always/],
    [{ prefix: '', thawTier: 'fast' }, /thawTier: must be one of Standard, Bulk, Expedited/],
    [{ prefix: '', target: 'restore-target' }, /target: must be an object: \{ "bucket"/],
    [{ prefix: '', target: { bucket: 'Not_A_Bucket' } }, /target\.bucket: must be a valid S3 bucket name/],
    [
      { prefix: '', target: { bucket: 'restore-target', region: 'europe' } },
      /target\.region: must be an AWS region/,
    ],
    [{ prefix: '', source: 42 }, /source: must be a bucket name \(a string\)/],
  ])('refuses a wrong type or value with the field named: %j', (input, expected) => {
    expect(problem(input)).toMatch(expected);
  });

  it.each([
    [{ prefix: '../etc/' }, /prefix: must not contain "\." or "\.\." path segments/],
    [{ prefix: 'photos/../../' }, /prefix: must not contain/],
    [{ keys: ['ok.txt', 'a/./b.txt'] }, /keys\.1: must not contain/],
    [{ keys: ['..'] }, /keys\.0: must not contain/],
    [
      { prefix: '', target: { bucket: 'restore-target', prefix: 'x/../' } },
      /target\.prefix: must not contain/,
    ],
    [{ prefix: '.s3dr/' }, /prefix: must not start with \.s3dr\//],
    [{ keys: [''] }, /keys\.0: must not be empty/],
    [{ keys: [`${'k'.repeat(1025)}`] }, /keys\.0: must be at most 1024 UTF-8 bytes/],
  ])('refuses dot segments, reserved and oversized keys: %j', (input, expected) => {
    expect(problem(input)).toMatch(expected);
  });

  it('keeps keys that only look like dot segments', () => {
    expect(parse({ keys: ['a..b', '.hidden', 'v1.2/..x'] }).keys).toEqual(['a..b', '.hidden', 'v1.2/..x']);
  });

  it('reports every problem of a payload at once', () => {
    const message = problem({ keys: ['a'], prefix: 'b', asOf: 'nope', overwrite: 'maybe' });
    expect(message.split('; ')).toHaveLength(3);
  });

  it('parses every sample payload in events/restore-*.json', async () => {
    const dir = new URL('../../events/', import.meta.url);
    const files = (await readdir(dir)).filter((f) => f.startsWith('restore-') && f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const payload = parse(JSON.parse(await readFile(new URL(file, dir), 'utf8')));
      expect(payload.dryRun).toBe(true);
    }
  });
});

describe('restore cursor', () => {
  const payload = parse({ prefix: 'photos/' });

  it('round-trips through its opaque form for the same request', () => {
    const f = requestFingerprint(payload, 'source-bucket');
    expect(decodeCursor(encodeCursor({ after: 'photos/été 1.jpg' }, f), f)).toEqual({
      after: 'photos/été 1.jpg',
    });
  });

  it('refuses a cursor of another request, including the real run of a dry run', () => {
    const cursor = encodeCursor({ after: 'x' }, requestFingerprint(payload, 'source-bucket'));
    const realRun = parse({ prefix: 'photos/', dryRun: false });
    expect(() => decodeCursor(cursor, requestFingerprint(realRun, 'source-bucket'))).toThrow(
      /cursor: belongs to a different request/,
    );
    const otherPrefix = parse({ prefix: 'videos/' });
    expect(() => decodeCursor(cursor, requestFingerprint(otherPrefix, 'source-bucket'))).toThrow(
      /different request/,
    );
  });

  it('ignores paging fields when fingerprinting: maxObjects and the cursor itself', () => {
    const a = parse({ prefix: 'p/', maxObjects: 10 });
    const b = parse({ prefix: 'p/', cursor: 'x' });
    expect(requestFingerprint(a, 's')).toBe(requestFingerprint(b, 's'));
  });

  it('refuses text that is not a cursor', () => {
    expect(() => decodeCursor('not-a-cursor', 'f')).toThrow(/cursor: is not a cursor a restore returned/);
  });
});
