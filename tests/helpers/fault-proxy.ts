/**
 * A fault-injecting HTTP proxy for the handlers' S3 and SQS traffic (tests only). It forwards every
 * request to `target` (the emulator) and, on a seeded random share of them, injects one of four faults:
 *
 * - `slowdown`: 503 SlowDown (S3's XML error body; SQS's JSON one), the request never reaches the target;
 * - `internal`: 500 InternalError, likewise;
 * - `reset`: the request is forwarded and executed, then the client's connection is destroyed instead
 *   of answered (the nastiest case: the side effect happened, the caller cannot know);
 * - `timeout`: the request is forwarded and executed, and the answer is held for `holdMs`, past the
 *   SDK's request timeout.
 *
 * Besides the random share, `exhaust` names operations to fail on every attempt, so that the SDK gives up
 * and the error reaches our code: at 10 % a random fault hits all three attempts of one operation about
 * once in a thousand operations, so only a very large workload would hit that path by chance.
 *
 * Every request is recorded with the SDK's retry headers (`amz-sdk-invocation-id`, the same for every
 * attempt of one operation, and `amz-sdk-request: attempt=N; max=M`), so {@link FaultProxy.accounting}
 * can say of every injected fault whether the SDK retried that very operation or gave up on it (the error
 * then reached our code, which must count it as a failure).
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { classify } from '../../local/emulator.ts';

export const FAULT_KINDS = ['slowdown', 'internal', 'reset', 'timeout'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ProxiedRequest {
  /** S3 operation or `SQS:<Action>`, as the emulator's request counts name them. */
  operation: string;
  /** When it arrived (Date.now()). */
  at: number;
  method: string;
  url: string;
  invocationId?: string;
  attempt?: number;
  maxAttempts?: number;
  /** The fault injected into this request, if any. */
  fault?: InjectedFault;
}

export interface InjectedFault {
  id: number;
  kind: FaultKind;
  operation: string;
  /**
   * The object key an S3 request is about (for a bucket-level request, its `prefix` parameter, which
   * s3-dr sets to the key when it lists uploads); '' for SQS.
   */
  key: string;
  invocationId?: string;
  attempt?: number;
  maxAttempts?: number;
}

export interface FaultAccounting {
  injected: number;
  byKind: Record<FaultKind, number>;
  /** Faults after which the SDK sent the same operation again (same invocation id, later attempt). */
  retried: InjectedFault[];
  /** Faults that ended their operation: the SDK gave up (attempts or retry quota exhausted). */
  surfaced: InjectedFault[];
  /** Faults on requests without SDK retry headers (cannot be traced to a retry). */
  untraceable: InjectedFault[];
  /** Requests the SDK sent as a retry (attempt > 1), whatever caused them. */
  retries: number;
}

/** An operation failed on every attempt (see {@link FaultProxyOptions.exhaust}). */
export interface ExhaustFault {
  /** S3 operation or `SQS:<Action>`, as {@link ProxiedRequest.operation}. */
  operation: string;
  kind: FaultKind;
}

export interface FaultProxyOptions {
  /** Base URL of the emulator, e.g. http://127.0.0.1:4566. */
  target: string;
  /** Share of eligible requests that get a fault, 0..1. */
  rate: number;
  /** Seed of the fault decisions (the same seed gives the same sequence of decisions). */
  seed: number;
  kinds?: readonly FaultKind[];
  /** How long a `timeout` fault holds the answer; choose it above the SDK's request timeout. */
  holdMs?: number;
  /** Which requests may get a fault (default: all). */
  eligible?: (request: ProxiedRequest) => boolean;
  /** Milliseconds to wait before forwarding a request (slow operations); undefined: none. */
  delayMs?: (request: ProxiedRequest) => number | undefined;
  /**
   * Operations to fail on every attempt. Each entry claims the first eligible request of its operation
   * that is a first attempt (`amz-sdk-request: attempt=1`) and arrives while the rate is above 0; every
   * attempt of that operation (the same `amz-sdk-invocation-id`) then gets the entry's fault, so the SDK
   * retries it until it gives up. Claimed and unclaimed entries: {@link FaultProxy.exhausted}.
   */
  exhaust?: readonly ExhaustFault[];
}

export interface FaultProxy {
  endpoint: string;
  /** Every request seen, in arrival order. */
  requests(): readonly ProxiedRequest[];
  faults(): readonly InjectedFault[];
  /** Faults injected so far, by kind. */
  counts(): Record<FaultKind, number>;
  /** Requests seen so far, by operation. */
  operations(): Record<string, number>;
  accounting(): FaultAccounting;
  /** The `exhaust` entries, each with the operation that claimed it (its invocation id), if any yet. */
  exhausted(): readonly (ExhaustFault & { invocationId?: string })[];
  /** Changes the fault rate from now on (0 stops injecting). */
  setRate(rate: number): void;
  close(): Promise<void>;
}

/** The object key of a path-style S3 URL (`/bucket/key?…`), or its `prefix` parameter. */
function objectKeyOf(url: string): string {
  const [path = '', query = ''] = url.split('?', 2);
  const slash = path.indexOf('/', 1);
  const raw = slash === -1 ? '' : path.slice(slash + 1);
  try {
    return raw ? decodeURIComponent(raw) : (new URLSearchParams(query).get('prefix') ?? '');
  } catch {
    return raw;
  }
}

/** mulberry32: a tiny, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function errorResponse(kind: 'slowdown' | 'internal', sqs: boolean, id: number) {
  const status = kind === 'slowdown' ? 503 : 500;
  const code = kind === 'slowdown' ? (sqs ? 'ServiceUnavailable' : 'SlowDown') : 'InternalError';
  const message = `${kind === 'slowdown' ? 'Please reduce your request rate.' : 'We encountered an internal error. Please try again.'} (fault-proxy fault #${id})`;
  if (sqs) {
    return {
      status,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': `fault-${id}`,
        'x-amzn-query-error': `${code};Receiver`,
      },
      body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
    };
  }
  return {
    status,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': `fault-${id}` },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-${id}</RequestId><HostId>fault-proxy</HostId></Error>`,
  };
}

/** Starts the proxy on 127.0.0.1 (a free port). */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const kinds = options.kinds ?? FAULT_KINDS;
  const holdMs = options.holdMs ?? 5_000;
  const random = seededRandom(options.seed);
  let rate = options.rate;
  const plan: (ExhaustFault & { invocationId?: string })[] = (options.exhaust ?? []).map((e) => ({ ...e }));
  const seen: ProxiedRequest[] = [];
  const injected: InjectedFault[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  /** Forwards the request; calls `done` with the complete upstream answer. */
  const forward = (
    req: IncomingMessage,
    body: Buffer,
    done: (
      answer: { status: number; headers: Record<string, string | string[]>; body: Buffer } | Error,
    ) => void,
  ) => {
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers.expect;
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 502,
            headers: res.headers as Record<string, string | string[]>,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', (e) => done(e));
      },
    );
    upstream.on('error', (e) => done(e));
    upstream.end(body);
  };

  const reply = (
    req: IncomingMessage,
    res: ServerResponse,
    answer: Parameters<Parameters<typeof forward>[2]>[0],
  ) => {
    if (res.destroyed || res.socket?.destroyed) return;
    if (answer instanceof Error) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault-proxy: upstream failed: ${answer.message}`);
      return;
    }
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    // A HEAD answer has no body but says how long the object is: keep its Content-Length.
    if (req.method !== 'HEAD') headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  };

  /** The `exhaust` entry this request belongs to: claimed by an earlier attempt, or claimed now. */
  const exhaustedBy = (request: ProxiedRequest, mayClaim: boolean) => {
    const id = request.invocationId;
    if (id === undefined) return undefined;
    const claimed = plan.find((e) => e.invocationId === id);
    if (claimed || !mayClaim || request.attempt !== 1) return claimed;
    const entry = plan.find((e) => e.invocationId === undefined && e.operation === request.operation);
    if (entry) entry.invocationId = id;
    return entry;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const retry = /attempt=(\d+);\s*max=(\d+)/.exec(header(req, 'amz-sdk-request') ?? '');
      const invocationId = header(req, 'amz-sdk-invocation-id');
      const request: ProxiedRequest = {
        operation: classify(req.method ?? 'GET', req.url ?? '/', req.headers as Record<string, unknown>),
        at: Date.now(),
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        ...(invocationId ? { invocationId } : {}),
        ...(retry ? { attempt: Number(retry[1]), maxAttempts: Number(retry[2]) } : {}),
      };
      seen.push(request);
      // One draw per request, whether or not it is eligible, so the sequence depends on the seed only.
      const draw = random();
      const pick = random();
      const eligible = options.eligible?.(request) ?? true;
      const exhausting = exhaustedBy(request, eligible && rate > 0);
      const faulty = exhausting !== undefined || (draw < rate && eligible);
      const run = () => {
        if (!faulty) {
          forward(req, body, (answer) => reply(req, res, answer));
          return;
        }
        const kind = exhausting?.kind ?? kinds[Math.min(kinds.length - 1, Math.floor(pick * kinds.length))]!;
        const fault: InjectedFault = {
          id: injected.length + 1,
          kind,
          operation: request.operation,
          key: request.operation.startsWith('SQS:') ? '' : objectKeyOf(request.url),
          ...(invocationId ? { invocationId } : {}),
          ...(request.attempt !== undefined
            ? { attempt: request.attempt, maxAttempts: request.maxAttempts }
            : {}),
        };
        injected.push(fault);
        request.fault = fault;
        if (kind === 'slowdown' || kind === 'internal') {
          const r = errorResponse(kind, request.operation.startsWith('SQS:'), fault.id);
          res.writeHead(r.status, { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) });
          res.end(req.method === 'HEAD' ? undefined : r.body);
        } else if (kind === 'reset') {
          forward(req, body, () => req.socket.destroy());
        } else {
          forward(req, body, (answer) => later(holdMs, () => reply(req, res, answer)));
        }
      };
      const delay = options.delayMs?.(request);
      if (delay) later(delay, run);
      else run();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const counts = () => {
    const byKind = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const f of injected) byKind[f.kind] += 1;
    return byKind;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => seen,
    faults: () => injected,
    counts,
    operations() {
      const ops: Record<string, number> = {};
      for (const r of seen) ops[r.operation] = (ops[r.operation] ?? 0) + 1;
      return ops;
    },
    accounting() {
      const lastAttempt = new Map<string, number>();
      for (const r of seen) {
        if (r.invocationId && r.attempt !== undefined) {
          lastAttempt.set(r.invocationId, Math.max(lastAttempt.get(r.invocationId) ?? 0, r.attempt));
        }
      }
      const retried: InjectedFault[] = [];
      const surfaced: InjectedFault[] = [];
      const untraceable: InjectedFault[] = [];
      for (const f of injected) {
        if (!f.invocationId || f.attempt === undefined) untraceable.push(f);
        else if ((lastAttempt.get(f.invocationId) ?? 0) > f.attempt) retried.push(f);
        else surfaced.push(f);
      }
      return {
        injected: injected.length,
        byKind: counts(),
        retried,
        surfaced,
        untraceable,
        retries: seen.filter((r) => (r.attempt ?? 1) > 1).length,
      };
    },
    exhausted: () => plan,
    setRate(next) {
      rate = next;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
