/**
 * What the end-to-end scenarios run against: the local runtime (the default, and what CI runs) or a
 * deployed stage (`npm run test:e2e -- --stage <name>`). The scenarios see only this interface, so they
 * are the same for both.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { RestoreReport } from '../../lib/restore/objects.ts';
import type { VerifyReport } from '../../lib/verify/report.ts';
import { E2eRefusedError, WaitTimeoutError } from './errors.ts';

export interface BucketHandle {
  s3: S3Client;
  bucket: string;
}

export interface E2eTarget {
  /** `local`, or `stage <name> (<region>)`. */
  readonly description: string;
  readonly source: BucketHandle;
  readonly dr: BucketHandle;
  readonly deletePolicy: 'mirror' | 'retain';
  readonly multipartThreshold: number;
  /** The DR key of a source key (the stage's key layout). */
  drKey(sourceKey: string): string;
  /** Runs the stage's verify function with this payload and returns its report. */
  verify(payload: Record<string, unknown>): Promise<VerifyReport>;
  /** Runs the stage's restore function with this payload and returns its report. */
  restore(payload: Record<string, unknown>): Promise<RestoreReport>;
  /**
   * Resolves once the work the target can see has finished (the local runtime: no notification, task or
   * batch pending). A deployed stage shows no such signal: there it resolves at once, and the bounded
   * polling of {@link eventually} does the waiting.
   */
  settle(): Promise<void>;
  /** How long a scenario waits for replication before it fails. */
  readonly waitMs: number;
  close(): Promise<void>;
}

export interface E2eOptions {
  /** Unset: the local runtime. */
  stage?: string;
  /** The stage's source region (the primary stack's); unset: the SDK's default chain. */
  region?: string;
  waitSeconds?: number;
  /** The multipart scenario uploads just over the stage's threshold; above this it refuses instead. */
  maxMultipartBytes: number;
}

const MiB = 1024 * 1024;

/** The suite's options, from the environment `scripts/e2e.ts` sets (or a person sets by hand). */
export function e2eOptionsFromEnv(env: Record<string, string | undefined> = process.env): E2eOptions {
  const number = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new E2eRefusedError(`${name} is ${JSON.stringify(value)}: not a positive number`);
    return n;
  };
  return {
    ...(env.S3DR_E2E_STAGE ? { stage: env.S3DR_E2E_STAGE } : {}),
    ...(env.S3DR_E2E_REGION ? { region: env.S3DR_E2E_REGION } : {}),
    ...(number('S3DR_E2E_WAIT_SECONDS') !== undefined
      ? { waitSeconds: number('S3DR_E2E_WAIT_SECONDS') }
      : {}),
    maxMultipartBytes: (number('S3DR_E2E_MAX_MULTIPART_MIB') ?? 256) * MiB,
  };
}

/** S3's smallest part, except the last (Amazon S3 User Guide, "Amazon S3 multipart upload limits"). */
export const MIN_PART = 5 * MiB;

/**
 * Part sizes of the smallest multipart object above `threshold` (5 MiB parts, a short last one), so the
 * stage copies it with UploadPartCopy. Refuses, before anything is written, when that object would exceed
 * `cap`: a stage keeping the 5 GiB default threshold would have the suite upload 5 GiB.
 */
export function multipartPartSizes(threshold: number, cap: number): number[] {
  const total = threshold + 1;
  if (total > cap) {
    throw new E2eRefusedError(
      `the stage's multipartThreshold is ${threshold} bytes, so the multipart scenario would upload ${total} bytes (limit ${cap}). ` +
        `Deploy the test stage with a small threshold (e.g. --param="multipartThreshold=16777216"), or raise S3DR_E2E_MAX_MULTIPART_MIB. Nothing was written.`,
    );
  }
  const full = Math.max(1, Math.ceil(total / MIN_PART) - 1);
  const sizes = Array.from({ length: full }, () => MIN_PART);
  sizes.push(Math.max(1, total - full * MIN_PART));
  return sizes;
}

/**
 * Polls `probe` until `done` holds, settling the target first each time, and fails after the target's
 * bounded wait with what it saw last. The pause between probes grows from 100 ms to 2 s; on the local
 * runtime the first probe after `settle()` normally holds already.
 */
export async function eventually<T>(
  target: Pick<E2eTarget, 'settle' | 'waitMs'>,
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + target.waitMs;
  let pause = 100;
  for (;;) {
    await target.settle();
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(
        `${what}: not within ${target.waitMs} ms; last seen ${JSON.stringify(value)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
    pause = Math.min(pause * 1.5, 2000);
  }
}
