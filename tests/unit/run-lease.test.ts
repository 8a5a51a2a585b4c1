/**
 * The run lease that keeps `sls invoke -f verify|restore` from running the same request twice at once
 * (osls re-sends a synchronous invoke after 120 s of silence, up to five times).
 *
 * S3 behaviour relied on — S3 User Guide, "How to prevent object overwrites with conditional writes"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): PutObject with
 * `If-None-Match: *` fails with 412 Precondition Failed when the key has a current object (in a versioned
 * bucket only the current version counts, so a released lease — a delete marker — is free again), with
 * `If-Match: <etag>` it fails with 412 unless the current object has that ETag, and a write that loses to
 * a concurrent one gets 409 ConditionalRequestConflict. The MemoryStore makes check-and-write one step as
 * S3 does; the S3 adapter's mapping of those answers is stated below with aws-sdk-client-mock.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectStore } from '../../lib/aws/s3-object-store.ts';
import { ConcurrentRunError } from '../../lib/core/errors.ts';
import type { Clock } from '../../lib/core/ports.ts';
import { acquireRunLease, leaseKey, type RunLeaseDeps, withRunLease } from '../../lib/verify/run-lease.ts';
import { MemoryWorld } from '../helpers/memory-store.ts';
import { logWith } from '../helpers/telemetry.ts';

const REQUEST = { sources: ['source-bucket'], prefix: 'album/', repair: true, deep: 0, graceSeconds: 900 };

/** A clock the test moves by hand: `remainingMs` is the invocation's deadline, like Lambda's context. */
function manualClock(startMs: number, timeoutMs: number): Clock & { advance(ms: number): void } {
  let now = startMs;
  const deadline = startMs + timeoutMs;
  return {
    now: () => new Date(now),
    remainingMs: () => deadline - now,
    advance(ms) {
      now += ms;
    },
  };
}

/** A promise the test resolves when it decides the work is done: no timers. */
function gate<T>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const warnings: Record<string, unknown>[] = [];
const log = logWith({
  warn: (_m: string, extra?: Record<string, unknown>) => void warnings.push(extra ?? {}),
});

function setup() {
  const world = new MemoryWorld();
  const dr = world.bucket('dr-bucket', { versioned: true });
  const clock = manualClock(Date.parse('2026-11-25T10:00:00Z'), 900_000);
  const deps: RunLeaseDeps = { store: dr, clock, log };
  return { world, dr, clock, deps };
}

beforeEach(() => {
  warnings.length = 0;
});

describe('run lease', () => {
  it('refuses a second concurrent run of the same request, naming the running one, and never starts its work', async () => {
    // Prepare: the first run holds the lease while its work is in progress.
    const { deps } = setup();
    const firstDone = gate<string>();
    const first = withRunLease(
      { name: 'verify', request: REQUEST, runId: 'req-first' },
      deps,
      () => firstDone.opened,
    );
    await new Promise((resolve) => setImmediate(resolve)); // let the first run take the lease
    let secondStarted = false;

    // Act: the CLI re-sends the same invoke.
    const second = withRunLease(
      { name: 'verify', request: { ...REQUEST }, runId: 'req-second' },
      deps,
      async () => {
        secondStarted = true;
        return 'second';
      },
    );

    // Assess
    await expect(second).rejects.toThrow(ConcurrentRunError);
    await expect(second).rejects.toThrow(
      /verify is already running this request: run req-first started at 2026-11-25T10:00:00.000Z/,
    );
    expect(secondStarted).toBe(false);
    firstDone.open('first');
    await expect(first).resolves.toBe('first');
  });

  it('lets a run of the same request start once the previous one released its lease', async () => {
    const { deps, dr } = setup();
    await withRunLease({ name: 'restore', request: REQUEST, runId: 'a' }, deps, async () => 1);
    expect(dr.objects.has(leaseKey({ name: 'restore', request: REQUEST }))).toBe(false);
    await expect(
      withRunLease({ name: 'restore', request: REQUEST, runId: 'b' }, deps, async () => 2),
    ).resolves.toBe(2);
  });

  it('releases the lease when the work fails, and rethrows the failure', async () => {
    const { deps, dr } = setup();
    const failing = withRunLease({ name: 'restore', request: REQUEST, runId: 'a' }, deps, async () => {
      throw new Error('copy failed');
    });
    await expect(failing).rejects.toThrow('copy failed');
    expect(dr.objects.size).toBe(0);
  });

  it('runs different requests, and the same request of another function, side by side', async () => {
    const { deps } = setup();
    const held = gate<void>();
    const a = withRunLease({ name: 'verify', request: REQUEST, runId: 'a' }, deps, () => held.opened);
    const b = withRunLease(
      { name: 'verify', request: { ...REQUEST, prefix: 'other/' }, runId: 'b' },
      deps,
      async () => 'b',
    );
    const c = withRunLease({ name: 'restore', request: REQUEST, runId: 'c' }, deps, async () => 'c');
    await expect(b).resolves.toBe('b');
    await expect(c).resolves.toBe('c');
    held.open();
    await a;
  });

  it('treats requests that differ only in key order as the same request', () => {
    const reordered = Object.fromEntries(Object.entries(REQUEST).reverse());
    expect(leaseKey({ name: 'verify', request: reordered })).toBe(
      leaseKey({ name: 'verify', request: REQUEST }),
    );
    expect(leaseKey({ name: 'verify', request: REQUEST })).toMatch(
      /^\.s3dr\/leases\/verify\/[0-9a-f]{32}\.json$/,
    );
  });

  it('does not block forever on a run that died: after its Lambda deadline the next run takes the lease over', async () => {
    // Prepare: a run took the lease and was killed at its timeout without releasing it.
    const { deps, clock, dr } = setup();
    await acquireRunLease({ name: 'verify', request: REQUEST, runId: 'req-dead' }, deps);
    const key = leaseKey({ name: 'verify', request: REQUEST });
    expect(JSON.parse(dr.objects.get(key)?.body.toString() ?? '{}').expiresAt).toBe(
      '2026-11-25T10:15:00.000Z',
    );

    // Act 1: still before its deadline — refused.
    clock.advance(899_000);
    await expect(
      acquireRunLease({ name: 'verify', request: REQUEST, runId: 'req-early' }, deps),
    ).rejects.toThrow(/run req-dead .* until 2026-11-25T10:15:00.000Z/);

    // Act 2: past it — taken over, and said so.
    clock.advance(2_000);
    const lease = await acquireRunLease({ name: 'verify', request: REQUEST, runId: 'req-next' }, deps);

    // Assess
    expect(lease.body.runId).toBe('req-next');
    expect(JSON.parse(dr.objects.get(key)?.body.toString() ?? '{}').runId).toBe('req-next');
    expect(warnings).toEqual([
      expect.objectContaining({ action: 'lease-takeover', previousRunId: 'req-dead', runId: 'req-next' }),
    ]);
  });

  it('lets only one of two runs that both find an expired lease take it over (If-Match on its ETag)', async () => {
    // Prepare: an expired lease, and two new invocations (each with its own 15-minute deadline) whose
    // reads of it interleave before either writes.
    const { world, deps } = setup();
    await acquireRunLease({ name: 'verify', request: REQUEST, runId: 'req-dead' }, deps);
    const later = Date.parse('2026-11-25T10:15:01Z');
    const reads = gate<void>();
    let readsSeen = 0;
    world.beforeOp = async ({ op }) => {
      if (op !== 'readText') return;
      readsSeen += 1;
      if (readsSeen === 2) reads.open();
      await reads.opened;
    };
    const invocation = (runId: string) =>
      acquireRunLease(
        { name: 'verify', request: REQUEST, runId },
        { ...deps, clock: manualClock(later, 900_000) },
      );

    // Act
    const results = await Promise.allSettled([invocation('x'), invocation('y')]);

    // Assess: one holds it; the other was refused naming the winner.
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(ConcurrentRunError);
    expect(String(refused.reason)).toMatch(/already running this request: run [xy] /);
  });
});

describe('run lease on S3 (the adapter, answered as S3 answers)', () => {
  const s3 = mockClient(S3Client);
  const store = new S3ObjectStore(new S3Client({ region: 'eu-central-1' }), 'dr-bucket');
  const failure = (name: string, httpStatusCode: number) =>
    new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode }, message: name });

  beforeEach(() => {
    s3.reset();
  });

  it('creates the lease with If-None-Match: * and reports a 412 as "held"', async () => {
    s3.on(PutObjectCommand).rejectsOnce(failure('PreconditionFailed', 412)).resolves({ ETag: '"e2"' });
    await expect(store.putTextIf('.s3dr/leases/x.json', '{}', { ifNoneMatch: '*' })).resolves.toBe(false);
    await expect(store.putTextIf('.s3dr/leases/x.json', '{}', { ifNoneMatch: '*' })).resolves.toBe(true);
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'dr-bucket',
      Key: '.s3dr/leases/x.json',
      IfNoneMatch: '*',
    });
  });

  it('reports 409 ConditionalRequestConflict (a concurrent write won) as "held" too', async () => {
    s3.on(PutObjectCommand).rejects(failure('ConditionalRequestConflict', 409));
    await expect(store.putTextIf('k', '{}', { ifNoneMatch: '*' })).resolves.toBe(false);
  });

  it('replaces an expired lease only while it has the ETag that was read (If-Match, quoted)', async () => {
    s3.on(PutObjectCommand).rejects(failure('PreconditionFailed', 412));
    await expect(store.putTextIf('k', '{}', { ifMatch: 'abc' })).resolves.toBe(false);
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { IfMatch: '"abc"' });
  });

  it('propagates any other failure (403 Access Denied is not "held")', async () => {
    s3.on(PutObjectCommand).rejects(failure('AccessDenied', 403));
    await expect(store.putTextIf('k', '{}', { ifNoneMatch: '*' })).rejects.toThrow('AccessDenied');
  });

  it('refuses the second of two runs end to end: 412 on create, then reads the holder', async () => {
    const holder = {
      v: 1,
      function: 'restore',
      runId: 'req-1',
      startedAt: '2026-11-25T10:00:00.000Z',
      expiresAt: '2026-11-25T10:15:00.000Z',
      request: REQUEST,
    };
    s3.on(PutObjectCommand).rejects(failure('PreconditionFailed', 412));
    s3.on(GetObjectCommand).resolves({
      ETag: '"e1"',
      Body: { transformToString: async () => JSON.stringify(holder) } as never,
    });
    const clock = manualClock(Date.parse('2026-11-25T10:02:00Z'), 900_000);
    await expect(
      acquireRunLease({ name: 'restore', request: REQUEST, runId: 'req-2' }, { store, clock, log }),
    ).rejects.toThrow(
      /run req-1 started at 2026-11-25T10:00:00.000Z and holds s3:\/\/dr-bucket\/\.s3dr\/leases\/restore\//,
    );
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });
});
