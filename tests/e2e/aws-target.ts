/**
 * The aws target: a deployed stage, found from its CloudFormation stacks' outputs (stack-outputs.ts),
 * with credentials from the SDK's default chain. The scenarios write to its source bucket, read its DR
 * bucket, and invoke its verify and restore functions — as an operator would.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { toDrKey } from '../../lib/core/key-mapping.ts';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { FunctionFailedError, StageDiscoveryError } from './errors.ts';
import { assertOnlyTestData, E2E_ROOT } from './safety.ts';
import { type DeployedStage, discoverStage } from './stack-outputs.ts';
import { type E2eOptions, type E2eTarget, eventually, multipartPartSizes } from './target.ts';

/** verify and restore run up to 900 s (serverless.yml); the client waits a little longer. */
const INVOKE_TIMEOUT_MS = 905_000;

/** What a failed invocation's payload holds (the Node.js runtime's error object). */
const functionErrorSchema = z.object({
  errorType: z.string().optional(),
  errorMessage: z.string().optional(),
});

/**
 * Invokes `functionName` synchronously and returns its parsed result. A function error is not an API
 * error: Invoke answers 200 with `FunctionError` set and the error object as the payload (AWS Lambda API
 * Reference, Invoke), so it is turned into an exception here. One attempt only: the SDK's retries would
 * re-send an invocation that may have run (a timeout does not mean it did not).
 */
export async function invokeFunction(
  lambda: LambdaClient,
  functionName: string,
  payload: unknown,
): Promise<unknown> {
  const r = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify(payload)),
    }),
  );
  const text = r.Payload ? new TextDecoder().decode(r.Payload) : '';
  if (r.FunctionError) {
    let detail = text;
    try {
      const e = functionErrorSchema.parse(JSON.parse(text));
      detail = `${e.errorType ?? 'Error'}: ${e.errorMessage ?? text}`;
    } catch {
      // Not the runtime's JSON error object: show the payload as it came.
    }
    throw new FunctionFailedError(`${functionName} failed (${r.FunctionError}): ${detail}`);
  }
  return text === '' ? undefined : JSON.parse(text);
}

/** The fields of a verify report the scenarios read: a wrong shape fails here, naming the field. */
const verifyReportSchema = z.looseObject({
  counts: z.object({
    ok: z.number(),
    missing: z.number(),
    mismatched: z.number(),
    orphaned: z.number(),
    pending: z.number(),
  }),
  pass: z.looseObject({ complete: z.boolean() }),
  reportKey: z.string(),
});
/** What the restore function answers: a job (docs/restore.md#jobs-start-poll-cancel), with its final report once it is done. */
const jobStatusSchema = z.looseObject({
  job: z.string(),
  state: z.enum(['planning', 'running', 'complete', 'failed', 'cancelled']),
  report: z.unknown().optional(),
});
const tally = z.looseObject({ objects: z.number(), bytes: z.number(), sample: z.array(z.string()) });
const restoreReportSchema = z.looseObject({
  dryRun: z.boolean(),
  plan: z.looseObject({ restore: tally }),
  results: z.looseObject({ restored: tally, failed: tally }).optional(),
  complete: z.boolean(),
});

export interface AwsClients {
  cloudFormation(region: string): CloudFormationClient;
  s3(region: string): S3Client;
  lambda(region: string): LambdaClient;
  destroy(): void;
}

/** Clients per region, credentials from the default chain. */
export function awsClients(): AwsClients {
  const made: { destroy(): void }[] = [];
  const cache = new Map<string, unknown>();
  const once = <T extends { destroy(): void }>(id: string, make: () => T): T => {
    let client = cache.get(id) as T | undefined;
    if (!client) {
      client = make();
      cache.set(id, client);
      made.push(client);
    }
    return client;
  };
  return {
    cloudFormation: (region) => once(`cfn:${region}`, () => new CloudFormationClient({ region })),
    s3: (region) => once(`s3:${region}`, () => new S3Client({ region })),
    lambda: (region) =>
      once(
        `lambda:${region}`,
        () =>
          new LambdaClient({
            region,
            maxAttempts: 1,
            requestHandler: { requestTimeout: INVOKE_TIMEOUT_MS, throwOnRequestTimeout: true },
          }),
      ),
    destroy: () => {
      for (const client of made) client.destroy();
    },
  };
}

/** The region the default chain gives (AWS_REGION, the profile's region), or a clear error. */
async function defaultRegion(): Promise<string> {
  const probe = new CloudFormationClient({});
  try {
    return await probe.config.region();
  } catch (error) {
    throw new StageDiscoveryError('no region: pass --region <the stage’s source region> or set AWS_REGION', {
      cause: error,
    });
  } finally {
    probe.destroy();
  }
}

/**
 * Finds the stage, then — before anything is written — refuses a DR bucket that holds anything but test
 * data (safety.ts) and a multipart threshold too large to test (target.ts).
 */
export async function openAwsTarget(
  options: E2eOptions & { stage: string },
  clients: AwsClients = awsClients(),
): Promise<E2eTarget & { stage: DeployedStage }> {
  try {
    const region = options.region ?? (await defaultRegion());
    const stage = await discoverStage(options.stage, region, clients.cloudFormation);
    const drKey = (key: string) => toDrKey(stage.keyLayout, stage.sourceBucket, key);
    const dr = { s3: clients.s3(stage.drRegion), bucket: stage.drBucket };
    await assertOnlyTestData(dr.s3, dr.bucket, drKey(E2E_ROOT), `stage ${options.stage}`);
    multipartPartSizes(stage.multipartThreshold, options.maxMultipartBytes);
    const lambda = clients.lambda(stage.sourceRegion);
    const waiting = { settle: async () => undefined, waitMs: (options.waitSeconds ?? 120) * 1000 };
    return {
      stage,
      description: `stage ${stage.stage} (${stage.sourceRegion} → ${stage.drRegion})`,
      source: { s3: clients.s3(stage.sourceRegion), bucket: stage.sourceBucket },
      dr,
      deletePolicy: stage.deletePolicy,
      multipartThreshold: stage.multipartThreshold,
      drKey,
      verify: async (payload) =>
        verifyReportSchema.parse(
          await invokeFunction(lambda, stage.verifyFunction, payload),
        ) as unknown as VerifyReport,
      // A restore starts a job and answers at once; the job's status carries its report once it is done.
      restore: async (payload) => {
        const started = jobStatusSchema.parse(await invokeFunction(lambda, stage.restoreFunction, payload));
        const done = await eventually(
          waiting,
          `restore job ${started.job} finishing`,
          async () =>
            jobStatusSchema.parse(await invokeFunction(lambda, stage.restoreFunction, { job: started.job })),
          (status) => ['complete', 'failed', 'cancelled'].includes(status.state),
        );
        return restoreReportSchema.parse(done.report) as unknown as RestoreReport;
      },
      ...waiting,
      close: async () => clients.destroy(),
    };
  } catch (error) {
    clients.destroy();
    throw error;
  }
}
