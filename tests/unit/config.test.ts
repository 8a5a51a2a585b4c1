/**
 * Configuration errors fail at cold start, once, with one message that names the variable and says what
 * it must be — in loadConfig here, and in every handler module when Lambda first imports it with a bad
 * environment (tests/package/cold-start.test.ts, which starts a Node process per handler).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import { ConfigError } from '../../lib/core/errors.ts';

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

function configError(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('loadConfig', () => {
  it('accepts the minimal valid environment, with mirror, flat and standard retries by default', () => {
    expect(loadConfig(valid)).toEqual(
      expect.objectContaining({
        deletePolicy: 'mirror',
        keyLayout: 'flat',
        retryMode: 'standard',
        maxAttempts: 6,
        // Archived sources are only reported unless thawing is asked for; then cheap, short restores.
        thawArchivedSources: false,
        thawDays: 1,
        thawTier: 'Bulk',
      }),
    );
  });

  it.each([
    ['a missing DR bucket name', { S3DR_DR_BUCKET: undefined }, 'S3DR_DR_BUCKET is not set'],
    ['a missing source bucket list', { S3DR_SOURCE_BUCKETS: undefined }, 'S3DR_SOURCE_BUCKETS is not set'],
    [
      'an empty source bucket list',
      { S3DR_SOURCE_BUCKETS: ' , ' },
      'S3DR_SOURCE_BUCKETS must name at least one bucket',
    ],
    [
      'an invalid bucket name',
      { S3DR_DR_BUCKET: 'DR_Bucket' },
      'S3DR_DR_BUCKET is "DR_Bucket": must be a valid S3 bucket name',
    ],
    [
      'an invalid bucket among the sources (the item is named and shown, not called unset)',
      { S3DR_SOURCE_BUCKETS: 'good-bucket,Bad_Bucket', S3DR_KEY_LAYOUT: 'bucket-prefixed' },
      'S3DR_SOURCE_BUCKETS.1 is "Bad_Bucket": must be a valid S3 bucket name',
    ],
    [
      'a region without its number',
      { S3DR_SOURCE_REGION: 'eu-west' },
      'S3DR_SOURCE_REGION is "eu-west": must be an AWS region such as eu-west-1',
    ],
    [
      'a region name in words',
      { S3DR_DR_REGION: 'Frankfurt' },
      'S3DR_DR_REGION is "Frankfurt": must be an AWS region',
    ],
    [
      'a delete policy typo',
      { S3DR_DELETE_POLICY: 'mirorr' },
      'S3DR_DELETE_POLICY is "mirorr": Invalid option: expected one of "mirror"|"retain"',
    ],
    ['a delete policy in capitals', { S3DR_DELETE_POLICY: 'RETAIN' }, 'S3DR_DELETE_POLICY is "RETAIN"'],
    ['a key layout typo', { S3DR_KEY_LAYOUT: 'prefixed' }, 'S3DR_KEY_LAYOUT is "prefixed"'],
    [
      'a storage class typo',
      { S3DR_DR_STORAGE_CLASS: 'GLACIER_DEEP' },
      'S3DR_DR_STORAGE_CLASS is "GLACIER_DEEP"',
    ],
    ['a boolean written as yes', { S3DR_COPY_TAGS: 'yes' }, 'S3DR_COPY_TAGS is "yes": must be true or false'],
    ['zero attempts', { S3DR_MAX_ATTEMPTS: '0' }, 'S3DR_MAX_ATTEMPTS is "0"'],
    [
      'a thaw switch written as on',
      { S3DR_THAW_ARCHIVED_SOURCES: 'on' },
      'S3DR_THAW_ARCHIVED_SOURCES is "on": must be true or false',
    ],
    ['a restore of zero days (S3 wants at least one)', { S3DR_THAW_DAYS: '0' }, 'S3DR_THAW_DAYS is "0"'],
    ['a retrieval tier in capitals', { S3DR_THAW_TIER: 'BULK' }, 'S3DR_THAW_TIER is "BULK"'],
    ['a retry mode typo', { S3DR_RETRY_MODE: 'legacy' }, 'S3DR_RETRY_MODE is "legacy"'],
    [
      'a timeout that is not a number',
      { S3DR_REQUEST_TIMEOUT_MS: 'fast' },
      'S3DR_REQUEST_TIMEOUT_MS is "fast"',
    ],
    [
      'a part size below S3’s minimum',
      { S3DR_PART_SIZE: '1024' },
      'S3DR_PART_SIZE is "1024": must be at least 5242880 bytes',
    ],
    [
      'a queue URL that is not a URL',
      { S3DR_QUEUE_URL: 'replication-queue' },
      'S3DR_QUEUE_URL is "replication-queue": must be the replication queue URL',
    ],
    [
      'the DR bucket among the sources',
      { S3DR_DR_BUCKET: 'source-bucket' },
      'S3DR_DR_BUCKET is also listed in S3DR_SOURCE_BUCKETS',
    ],
    [
      'two sources with the flat layout',
      { S3DR_SOURCE_BUCKETS: 'a-bucket,b-bucket' },
      'S3DR_KEY_LAYOUT is "flat", which maps keys 1:1',
    ],
  ])('fails on %s with one message naming the variable', (_what, change, expected) => {
    const message = configError({ ...valid, ...change });
    expect(message.startsWith('Invalid s3-dr configuration: ')).toBe(true);
    expect(message).toContain(expected);
    // One problem, one variable: nothing else is blamed.
    expect(problems(message)).toHaveLength(1);
  });

  it('names every bad variable in the one message when several are wrong', () => {
    const message = configError({ ...valid, S3DR_DR_BUCKET: undefined, S3DR_DELETE_POLICY: 'mirorr' });
    expect(message).toMatch(
      /^Invalid s3-dr configuration: .*S3DR_DR_BUCKET is not set.*; .*S3DR_DELETE_POLICY is "mirorr"/,
    );
  });
});
