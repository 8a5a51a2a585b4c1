/**
 * One bucket-name and region rule (lib/core/names.ts) for the functions' config, the restore payload and
 * the deployment resolver. Amazon S3 User Guide, "General purpose bucket naming rules"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/core/config.ts';
import { bucketName, bucketNameProblem, region } from '../../lib/core/names.ts';
import { parseRestorePayload } from '../../lib/restore/payload.ts';
import { resolver, stubResolveVariable } from '../helpers/resolver-stub.ts';

/** Names each rule of the AWS page refuses, with the words the message gives. */
const REFUSED: [string, RegExp][] = [
  ['ab', /3-63 chars/],
  [`a${'b'.repeat(62)}c`, /3-63 chars/],
  ['My-Bucket', /3-63 chars/],
  ['bucket_name', /3-63 chars/],
  ['-bucket', /3-63 chars/],
  ['bucket.', /3-63 chars/],
  ['my..bucket', /two adjacent periods/],
  ['192.168.5.4', /IP address/],
  ['xn--bucket', /prefix xn--/],
  ['sthree-bucket', /prefix sthree-/],
  ['sthree-configurator', /prefix sthree-/],
  ['amzn-s3-demo-bucket', /prefix amzn-s3-demo-/],
  ['bucket-s3alias', /suffix -s3alias/],
  ['bucket--ol-s3', /suffix --ol-s3/],
  ['bucket.mrap', /suffix \.mrap/],
  ['bucket--usw2-az1--x-s3', /suffix --x-s3/],
];
/** Names the same page gives as valid examples, and the shapes s3-dr's stages use. */
const ACCEPTED = [
  'docexamplebucket1',
  'log-delivery-march-2020',
  'my-hosted-content',
  'a.b-c.d',
  'abc',
  's3-dr-dev-dr',
];

/** The resolver's parameter check with the dev stage's parameters and some changed. */
const checkParams = (params: Record<string, unknown>) =>
  resolver.checkParams({ resolveVariable: stubResolveVariable(params).resolveVariable });

describe('bucket names (S3 User Guide, "General purpose bucket naming rules")', () => {
  it.each(REFUSED)('refuses %s in the schema, naming the rule', (name, rule) => {
    expect(bucketNameProblem(name)).toMatch(rule);
    const parsed = bucketName.safeParse(name);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/^must be a valid S3 bucket name \(/);
    expect(parsed.error?.issues[0]?.message).toMatch(rule);
  });

  it.each(ACCEPTED)('accepts %s', (name) => {
    expect(bucketNameProblem(name)).toBeUndefined();
    expect(bucketName.parse(name)).toBe(name);
  });

  it.each(REFUSED)(
    'refuses %s alike in config, the restore payload and the deployment resolver',
    async (name, rule) => {
      expect(() =>
        loadConfig({
          S3DR_SOURCE_BUCKETS: 'source-bucket',
          S3DR_SOURCE_REGION: 'eu-west-1',
          S3DR_DR_BUCKET: name,
          S3DR_DR_REGION: 'eu-central-1',
        }),
      ).toThrow(new RegExp(`S3DR_DR_BUCKET is ".*": must be a valid S3 bucket name \\(.*${rule.source}`));
      expect(() => parseRestorePayload({ prefix: '', target: { bucket: name } })).toThrow(
        new RegExp(`target\\.bucket: must be a valid S3 bucket name \\(.*${rule.source}`),
      );
      await expect(checkParams({ restoreTargets: name })).rejects.toThrow(
        new RegExp(`"restoreTargets" holds ".*", which is not a valid S3 bucket name \\(.*${rule.source}`),
      );
    },
  );

  it('accepts the dev stage in the resolver (the refusals above are the names, not the stage)', async () => {
    await expect(checkParams({})).resolves.toBe('ok');
  });
});

describe('regions', () => {
  it.each(['eu-west-1', 'us-gov-west-1', 'ap-southeast-2', 'cn-north-1'])('accepts %s', (name) => {
    expect(region.parse(name)).toBe(name);
  });

  it.each(['eu-west', 'EU-WEST-1', 'euwest1', ''])(
    'refuses %s in config, the restore payload and the resolver',
    async (name) => {
      expect(region.safeParse(name).success).toBe(false);
      expect(() =>
        parseRestorePayload({ prefix: '', target: { bucket: 'target-bucket', region: name } }),
      ).toThrow(/target\.region: must be an AWS region such as eu-west-1/);
      await expect(checkParams({ sourceRegion: name })).rejects.toThrow(
        /"sourceRegion" is ".*": it must be an AWS region such as eu-west-1/,
      );
    },
  );
});
