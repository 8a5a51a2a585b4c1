/**
 * Calling the deployment resolver (scripts/deploy-resolver/index.cjs) in-process, as osls does, without
 * `sls`: a `resolveVariable` over the dev stage's parameters (serverless.yml `params.default` + `dev`)
 * with some changed, counting how often each variable is read.
 */
import { createRequire } from 'node:module';

export type ResolverContext = { options?: object; resolveVariable: (name: string) => Promise<unknown> };
export type Resolved = (context: ResolverContext) => Promise<unknown>;

export const resolver = createRequire(import.meta.url)('../../scripts/deploy-resolver/index.cjs') as {
  checkParams: Resolved;
  queueUrl: Resolved;
  visibilityTimeout: Resolved;
  iamRoleStatements: { replicate: Resolved };
  encryption: { drSseAlgorithm: Resolved };
  drBucketPolicyStatements: Resolved;
  drKmsKey: Resolved;
  objectLock: { configuration: Resolved };
};

/** The parameters the resolver reads, as serverless.yml sets them for the dev stage. */
export const DEV_PARAMS: Readonly<Record<string, unknown>> = {
  stackRole: 'primary',
  sourceBuckets: 's3-dr-dev-source',
  sourceRegion: 'eu-west-1',
  drBucket: 's3-dr-dev-dr',
  createDrBucket: true,
  keyLayout: 'flat',
  copyTags: true,
  restoreTargets: '',
  thawArchivedSources: false,
  verifySchedule: 'rate(1 hour)',
  replicateBatchWindow: 0,
  replicateTimeout: 300,
  objectLockDays: 30,
  eventSource: 'notifications',
  createDrKmsKey: false,
  jobMaxConcurrency: 10,
  jobWorkerTimeout: 900,
  jobMaxReceiveCount: 5,
  runbooksUrl: 'runbooks',
};

/** A resolveVariable over DEV_PARAMS with `params` changed, and how often it read each variable. */
export function stubResolveVariable(params: Record<string, unknown> = {}) {
  const reads = new Map<string, number>();
  const resolveVariable = async (name: string): Promise<unknown> => {
    reads.set(name, (reads.get(name) ?? 0) + 1);
    if (name === 'self:custom.names') return { service: 's3-dr', stage: 'dev', replicationQueue: 'q' };
    const m = /^param:(\w+), null$/.exec(name);
    if (!m?.[1]) throw new Error(`unexpected variable ${name}`);
    return { ...DEV_PARAMS, ...params }[m[1]] ?? null;
  };
  return { reads, resolveVariable };
}
