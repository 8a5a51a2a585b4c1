import { createHash } from 'node:crypto';
import { RESERVED_PREFIX } from '../core/config.ts';
import { ConcurrentRunError, describeError } from '../core/errors.ts';
import type { Clock, ObjectStore } from '../core/ports.ts';
import type { Log } from '../core/telemetry.ts';
import * as z from '../core/zod.ts';

/** Where run leases live in the DR bucket: `.s3dr/leases/<function>/<request hash>.json`. */
export const LEASE_PREFIX = `${RESERVED_PREFIX}leases/`;

/** No Lambda runs longer than 15 minutes: a lease never outlives that, whatever the clock says. */
const MAX_LEASE_MS = 15 * 60_000;
/** Rounds of "create, else read, else take over an expired lease" before giving up. */
const ATTEMPTS = 3;

const leaseSchema = z.object({
  v: z.literal(1),
  function: z.string(),
  runId: z.string(),
  startedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  request: z.unknown(),
});
type LeaseBody = z.infer<typeof leaseSchema>;

/** One long-running invocation: which function, the normalized request it works on, its request id. */
export interface RunIdentity {
  name: 'verify' | 'restore';
  /** The request after validation and defaults (parseVerifyRequest / parseRestorePayload output). */
  request: unknown;
  runId: string;
}

export interface RunLeaseDeps {
  store: ObjectStore;
  /** `remainingMs()` at the start is the invocation's timeout: the lease expires when Lambda would kill it. */
  clock: Clock;
  log: Log;
}

/** JSON with object keys sorted, so the same request always hashes the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The lease key of a run: one per function and normalized request. */
export function leaseKey(run: Pick<RunIdentity, 'name' | 'request'>): string {
  const hash = createHash('sha256').update(canonical(run.request)).digest('hex').slice(0, 32);
  return `${LEASE_PREFIX}${run.name}/${hash}.json`;
}

interface HeldLease {
  key: string;
  body: LeaseBody;
}

function parseLease(text: string): LeaseBody | undefined {
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON: treated like an expired lease by the caller, which logs it
  }
}

/**
 * Takes the run lease of `run`, or refuses with {@link ConcurrentRunError} naming the run that holds it.
 *
 * The lease is an object in the DR bucket created with a conditional write (`If-None-Match: *`): of two
 * concurrent runs of the same request exactly one creates it (S3 User Guide, "How to prevent object
 * overwrites with conditional writes"). It records when it expires — the holder's Lambda deadline — so a
 * run that died (timeout, crash) blocks the request only until then; the next run replaces an expired
 * lease with `If-Match: <its ETag>`, so two runs that both find it expired cannot both take it over.
 */
export async function acquireRunLease(run: RunIdentity, deps: RunLeaseDeps): Promise<HeldLease> {
  const key = leaseKey(run);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const now = deps.clock.now();
    const lifetime = Math.min(deps.clock.remainingMs(), MAX_LEASE_MS);
    const body: LeaseBody = {
      v: 1,
      function: run.name,
      runId: run.runId,
      startedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + Math.max(0, lifetime)).toISOString(),
      request: run.request,
    };
    const text = JSON.stringify(body);
    if (await deps.store.putTextIf(key, text, { ifNoneMatch: '*' })) return { key, body };

    const held = await deps.store.readText(key);
    if (held === undefined) continue; // released between our write and our read: try again
    const holder = parseLease(held.body);
    if (holder && Date.parse(holder.expiresAt) > now.getTime()) {
      throw new ConcurrentRunError(
        `${run.name} is already running this request: run ${holder.runId} started at ${holder.startedAt} ` +
          `and holds s3://${deps.store.bucket}/${key} until ${holder.expiresAt} (its Lambda deadline). ` +
          'Wait for it to finish (its report or the logs of that request id), or change the request.',
      );
    }
    if (await deps.store.putTextIf(key, text, { ifMatch: held.etag })) {
      deps.log.warn('took over the expired lease of a run that did not release it', {
        action: 'lease-takeover',
        bucket: deps.store.bucket,
        key,
        runId: run.runId,
        previousRunId: holder?.runId,
        previousExpiresAt: holder?.expiresAt,
        reason: holder ? 'expired' : 'not a valid lease',
      });
      return { key, body };
    }
  }
  throw new ConcurrentRunError(
    `${run.name}: another run of this request took s3://${deps.store.bucket}/${key} at the same moment; ` +
      'it is running now',
  );
}

/** Ends the lease. A failed release is logged, not thrown: the lease expires at its deadline anyway. */
export async function releaseRunLease(lease: HeldLease, deps: RunLeaseDeps): Promise<void> {
  try {
    await deps.store.remove(lease.key);
  } catch (error) {
    deps.log.warn('could not release the run lease; it expires at its deadline', {
      action: 'lease-release-failed',
      bucket: deps.store.bucket,
      key: lease.key,
      expiresAt: lease.body.expiresAt,
      error: describeError(error),
    });
  }
}

/**
 * Runs `work` under the run lease of `run` (docs/design.md, invariant 8: no client timeout can start the
 * same work twice): a second concurrent invocation with the same normalized request — `sls invoke`
 * re-sends a synchronous invoke after 120 s of silence — is refused with an error naming the first.
 */
export async function withRunLease<T>(
  run: RunIdentity,
  deps: RunLeaseDeps,
  work: () => Promise<T>,
): Promise<T> {
  const lease = await acquireRunLease(run, deps);
  try {
    return await work();
  } finally {
    await releaseRunLease(lease, deps);
  }
}
