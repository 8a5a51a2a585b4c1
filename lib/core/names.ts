/**
 * The one bucket-name and region schema: used by the functions' config (lib/core/config.ts), the
 * restore payload (lib/restore/payload.ts) and the deployment resolver (scripts/deploy-resolver/, which
 * `require`s this file from CommonJS), so `sls package`, a cold start and an invoke judge a name alike.
 */
import * as z from './zod.ts';

/**
 * Amazon S3 User Guide, "General purpose bucket naming rules"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html): 3 to 63 characters of
 * lowercase letters, digits, periods and hyphens, beginning and ending with a letter or digit; no two
 * adjacent periods; not formatted as an IP address; none of the reserved prefixes and suffixes.
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const BUCKET_NAME_RULES: readonly (readonly [RegExp, string])[] = [
  [/\.\./, 'no two adjacent periods'],
  [/^\d{1,3}(\.\d{1,3}){3}$/, 'not formatted as an IP address'],
  [/^xn--/, 'no prefix xn--'],
  [/^sthree-/, 'no prefix sthree-'],
  [/^amzn-s3-demo-/, 'no prefix amzn-s3-demo-'],
  [/-s3alias$/, 'no suffix -s3alias (access point aliases)'],
  [/--ol-s3$/, 'no suffix --ol-s3 (Object Lambda access point aliases)'],
  [/\.mrap$/, 'no suffix .mrap (Multi-Region Access Points)'],
  [/--x-s3$/, 'no suffix --x-s3 (directory buckets)'],
];

/** Why `name` is not a valid general purpose bucket name (in parentheses-ready words), or undefined. */
export function bucketNameProblem(name: string): string | undefined {
  if (!BUCKET_NAME.test(name)) return '3-63 chars, a-z 0-9 . -';
  return BUCKET_NAME_RULES.find(([pattern]) => pattern.test(name))?.[1];
}

/**
 * A general purpose bucket name, with the rule it breaks in the message. Each rule is a pattern (not a
 * refinement), so the issue is a format issue and config's message shows the value beside it.
 */
export const bucketName = z
  .string({ error: 'must be a bucket name (a string)' })
  .check(
    z.regex(BUCKET_NAME, 'must be a valid S3 bucket name (3-63 chars, a-z 0-9 . -)'),
    ...BUCKET_NAME_RULES.map(([pattern, rule]) =>
      z.regex(new RegExp(`^(?!.*(?:${pattern.source}))`, 's'), `must be a valid S3 bucket name (${rule})`),
    ),
  );

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const REGION_MESSAGE = 'must be an AWS region such as eu-west-1';

/** Why `name` is not an AWS region name, or undefined. */
export function regionProblem(name: string): string | undefined {
  return REGION.test(name) ? undefined : REGION_MESSAGE;
}

/** An AWS region name such as eu-west-1 (its shape: whether the region exists is AWS's to say). */
export const region = z.string({ error: REGION_MESSAGE }).check(z.regex(REGION, REGION_MESSAGE));
