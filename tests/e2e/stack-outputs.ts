/**
 * Finds a deployed stage from its CloudFormation stacks, the way Powertools' and serverless-test-samples'
 * e2e suites do: nothing is guessed from naming conventions, everything the suite touches is a stack
 * output. A stage is two stacks with the same name (osls names them `<service>-<stage>`): the primary in
 * the source region and the dr stack in the DR region (serverless.yml, `stackRole`).
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { z } from 'zod';
import { StageDiscoveryError } from './errors.ts';

export const SERVICE = 's3-dr';

/** `<service>-<stage>`: the framework's default stack name, used by both stacks of a stage. */
export const stackName = (stage: string) => `${SERVICE}-${stage}`;

const bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a bucket name');

/** The primary stack's outputs the suite reads (serverless.yml, Outputs). */
export const primaryOutputsSchema = z.object({
  SourceBuckets: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()))
    .pipe(z.array(bucket).min(1)),
  DrBucket: bucket,
  DrRegion: z.string().min(1),
  DeletePolicy: z.enum(['mirror', 'retain']),
  KeyLayout: z.enum(['flat', 'bucket-prefixed']),
  MultipartThreshold: z.coerce.number().int().positive(),
  VerifyFunctionName: z.string().min(1),
  RestoreFunctionName: z.string().min(1),
});

/** Output keys the primary stack must have: what the template test checks serverless.yml against. */
export const PRIMARY_OUTPUT_KEYS = Object.keys(primaryOutputsSchema.shape);

export interface DeployedStage {
  stage: string;
  sourceRegion: string;
  sourceBucket: string;
  drRegion: string;
  drBucket: string;
  deletePolicy: 'mirror' | 'retain';
  keyLayout: 'flat' | 'bucket-prefixed';
  multipartThreshold: number;
  verifyFunction: string;
  restoreFunction: string;
}

/** Stack states in which the stack's resources and outputs are whole (not mid-change, not failed). */
const USABLE = new Set([
  'CREATE_COMPLETE',
  'UPDATE_COMPLETE',
  'UPDATE_ROLLBACK_COMPLETE',
  'IMPORT_COMPLETE',
  'IMPORT_ROLLBACK_COMPLETE',
]);

/**
 * DescribeStacks of one stack. A stack that does not exist is a ValidationError, not an empty list
 * (DescribeStacks, AWS CloudFormation API Reference): it is turned into an error naming the stack,
 * region and the deploy command that creates it.
 */
async function describeStack(
  cfn: CloudFormationClient,
  name: string,
  region: string,
  deployHint: string,
): Promise<Stack> {
  let stack: Stack | undefined;
  try {
    stack = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (error) {
    if (error instanceof Error && error.name === 'ValidationError' && /does not exist/.test(error.message)) {
      throw new StageDiscoveryError(
        `stack ${name} does not exist in ${region}; deploy it first (${deployHint})`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!stack) throw new StageDiscoveryError(`DescribeStacks returned no stack ${name} in ${region}`);
  if (!USABLE.has(String(stack.StackStatus))) {
    throw new StageDiscoveryError(
      `stack ${name} in ${region} is ${stack.StackStatus}; the suite runs only against a stack whose last change completed`,
    );
  }
  return stack;
}

const outputsOf = (stack: Stack): Record<string, string> =>
  Object.fromEntries(
    (stack.Outputs ?? []).flatMap((o) =>
      o.OutputKey && o.OutputValue !== undefined ? [[o.OutputKey, o.OutputValue]] : [],
    ),
  );

/**
 * Reads both stacks of `stage`: the primary in `region` (the source region), then the dr stack in the
 * DR region the primary names. `client(region)` makes a CloudFormation client (credentials from the
 * default chain).
 */
export async function discoverStage(
  stage: string,
  region: string,
  client: (region: string) => CloudFormationClient,
): Promise<DeployedStage> {
  const name = stackName(stage);
  const primary = await describeStack(client(region), name, region, `npx sls deploy --stage ${stage}`);
  const parsed = primaryOutputsSchema.safeParse(outputsOf(primary));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new StageDiscoveryError(
      `stack ${name} in ${region} lacks the outputs the suite needs (${problems}); it was deployed from an older serverless.yml, or it is the dr stack (pass the source region with --region)`,
    );
  }
  const out = parsed.data;
  const dr = await describeStack(
    client(out.DrRegion),
    name,
    out.DrRegion,
    `npx sls deploy --stage ${stage} --param="stackRole=dr"`,
  );
  const drOutputs = outputsOf(dr);
  if (drOutputs.DrBucketName !== undefined && drOutputs.DrBucketName !== out.DrBucket) {
    throw new StageDiscoveryError(
      `the dr stack ${name} in ${out.DrRegion} created bucket ${drOutputs.DrBucketName}, but the primary stack replicates into ${out.DrBucket}: the two stacks were deployed with different drBucket parameters`,
    );
  }
  return {
    stage,
    sourceRegion: region,
    sourceBucket: out.SourceBuckets[0]!,
    drRegion: out.DrRegion,
    drBucket: out.DrBucket,
    deletePolicy: out.DeletePolicy,
    keyLayout: out.KeyLayout,
    multipartThreshold: out.MultipartThreshold,
    verifyFunction: out.VerifyFunctionName,
    restoreFunction: out.RestoreFunctionName,
  };
}
