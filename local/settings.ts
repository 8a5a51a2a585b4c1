/**
 * The local runtime's settings come from serverless.yml itself — the `local` stage, resolved by the
 * Serverless Framework (`sls print --stage local`) — so names, environment, queue attributes, batch
 * size and retry counts are one source of truth, not two copies. The resolved result is cached under
 * node_modules/.cache, keyed by a hash of the files it depends on, because resolving takes seconds.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The resolver loads the rules and names modules too: a change there may change what it resolves.
const inputs = [
  'serverless.yml',
  'lib/core/replication-rules.ts',
  'lib/core/storage-classes.ts',
  'lib/core/names.ts',
];
/** The deployment resolver's modules, every one of which serverless.yml's values come from. */
const RESOLVER_DIR = 'scripts/deploy-resolver';

export interface QueueSettings {
  name: string;
  visibilityTimeoutSeconds: number;
  messageRetentionSeconds: number;
  maxReceiveCount?: number;
}

export interface LocalSettings {
  /** Environment of the replicate function (a superset of what every function reads). */
  env: Record<string, string>;
  functionEnv: Record<string, Record<string, string>>;
  /** Each function's memorySize (MB; the provider's, else the framework's default of 1024). */
  memorySizeMB: Record<string, number>;
  queue: QueueSettings;
  dlq: QueueSettings;
  replicate: { batchSize: number; batchWindowSeconds: number; timeoutSeconds: number };
  ingest: { maximumRetryAttempts: number; timeoutSeconds: number };
  verify: { timeoutSeconds: number; schedule?: string };
  restore: { timeoutSeconds: number };
  jobQueue: QueueSettings;
  jobDlq: QueueSettings;
  jobWorker: { batchSize: number; timeoutSeconds: number; maxConcurrency: number };
}

type Json = Record<string, unknown>;

function obj(value: unknown, what: string): Json {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  throw new Error(`serverless.yml (stage local) has no ${what}`);
}

function num(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isFinite(n))
    throw new Error(`serverless.yml (stage local): ${what} is ${JSON.stringify(value)}`);
  return n;
}

function strings(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((value as Json | undefined) ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  }
  return out;
}

function queueSettings(resource: unknown, what: string): QueueSettings {
  const props = obj(obj(resource, what).Properties, `${what}.Properties`);
  const redrive = props.RedrivePolicy as Json | undefined;
  return {
    name: String(props.QueueName),
    visibilityTimeoutSeconds: num(props.VisibilityTimeout ?? 30, `${what} VisibilityTimeout`),
    messageRetentionSeconds: num(props.MessageRetentionPeriod ?? 345_600, `${what} MessageRetentionPeriod`),
    ...(redrive ? { maxReceiveCount: num(redrive.maxReceiveCount, `${what} maxReceiveCount`) } : {}),
  };
}

function jobWorkerSettings(worker: Json): LocalSettings['jobWorker'] {
  const sqsEvent = ((worker.events as Json[] | undefined) ?? []).map((e) => e.sqs).find(Boolean) as
    | Json
    | undefined;
  if (!sqsEvent) throw new Error('serverless.yml (stage local): functions.jobWorker has no sqs event');
  return {
    batchSize: num(sqsEvent.batchSize ?? 1, 'jobWorker sqs batchSize'),
    timeoutSeconds: num(worker.timeout ?? 900, 'jobWorker timeout'),
    maxConcurrency: num(sqsEvent.maximumConcurrency ?? 2, 'jobWorker sqs maximumConcurrency'),
  };
}

/** Extracts what the local runtime needs from the resolved `sls print --stage local` output. */
export function settingsFromServerless(config: Json): LocalSettings {
  const provider = obj(config.provider, 'provider');
  const functions = obj(config.functions, 'functions');
  const resources = obj(obj(config.resources, 'resources').Resources, 'resources.Resources');
  const providerEnv = strings(provider.environment);
  const functionEnv: Record<string, Record<string, string>> = {};
  const memorySizeMB: Record<string, number> = {};
  for (const [name, fn] of Object.entries(functions)) {
    functionEnv[name] = { ...providerEnv, ...strings((fn as Json).environment) };
    memorySizeMB[name] = num((fn as Json).memorySize ?? provider.memorySize ?? 1024, `${name} memorySize`);
  }
  const replicate = obj(functions.replicate, 'functions.replicate');
  const ingest = obj(functions.ingest, 'functions.ingest');
  const sqsEvent = ((replicate.events as Json[] | undefined) ?? []).map((e) => e.sqs).find(Boolean) as
    | Json
    | undefined;
  if (!sqsEvent) throw new Error('serverless.yml (stage local): functions.replicate has no sqs event');
  const verify = (functions.verify as Json | undefined) ?? {};
  const schedule = ((verify.events as Json[] | undefined) ?? []).map((e) => e.schedule).find(Boolean);
  return {
    env: functionEnv.replicate ?? providerEnv,
    functionEnv,
    memorySizeMB,
    queue: queueSettings(resources.ReplicationQueue, 'resources.ReplicationQueue'),
    dlq: queueSettings(resources.DeadLetterQueue, 'resources.DeadLetterQueue'),
    replicate: {
      batchSize: num(sqsEvent.batchSize ?? 10, 'replicate sqs batchSize'),
      batchWindowSeconds: num(sqsEvent.maximumBatchingWindow ?? 0, 'replicate sqs maximumBatchingWindow'),
      timeoutSeconds: num(replicate.timeout ?? provider.timeout ?? 6, 'replicate timeout'),
    },
    ingest: {
      maximumRetryAttempts: num(ingest.maximumRetryAttempts ?? 2, 'ingest maximumRetryAttempts'),
      timeoutSeconds: num(ingest.timeout ?? provider.timeout ?? 6, 'ingest timeout'),
    },
    verify: {
      timeoutSeconds: num(verify.timeout ?? 900, 'verify timeout'),
      ...(typeof schedule === 'string'
        ? { schedule }
        : schedule && typeof (schedule as Json).rate === 'string'
          ? { schedule: String((schedule as Json).rate) }
          : {}),
    },
    restore: {
      timeoutSeconds: num((functions.restore as Json | undefined)?.timeout ?? 900, 'restore timeout'),
    },
    jobQueue: queueSettings(resources.JobQueue, 'resources.JobQueue'),
    jobDlq: queueSettings(resources.JobDeadLetterQueue, 'resources.JobDeadLetterQueue'),
    jobWorker: jobWorkerSettings(obj(functions.jobWorker, 'functions.jobWorker')),
  };
}

async function resolveWithServerless(): Promise<Json> {
  const env = { ...process.env };
  // osls sends its own AWS calls to AWS_ENDPOINT_URL when set; printing needs none.
  delete env.AWS_ENDPOINT_URL;
  // Seconds on a quiet machine, a minute or more on a busy one: the bound only stops a hung framework.
  const timeoutMs = 8 * 60_000;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(root, 'node_modules/osls/bin/serverless.js'), 'print', '--stage', 'local', '--format', 'json'],
    {
      cwd: root,
      env: { ...env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      maxBuffer: 16 << 20,
      timeout: timeoutMs,
    },
  ).catch((error: { killed?: boolean; signal?: string; stderr?: string }) => {
    if (error.killed) {
      throw new Error(
        `sls print --stage local timed out: killed (${error.signal}) after ${timeoutMs / 1000} s while resolving serverless.yml for the local runtime`,
        { cause: error },
      );
    }
    throw error;
  });
  const start = stdout.indexOf('{');
  return JSON.parse(stdout.slice(start)) as Json;
}

/** The local stage's settings, resolved by the Serverless Framework (cached by input hash). */
export async function loadLocalSettings(): Promise<LocalSettings> {
  const hash = createHash('sha256');
  const resolver = (await readdir(join(root, RESOLVER_DIR))).sort().map((f) => `${RESOLVER_DIR}/${f}`);
  for (const file of [...inputs, ...resolver]) {
    hash.update(await readFile(join(root, file)).catch(() => Buffer.alloc(0)));
  }
  const cacheFile = join(
    root,
    'node_modules/.cache/s3-dr',
    `local-stage-${hash.digest('hex').slice(0, 16)}.json`,
  );
  let config: Json;
  try {
    config = JSON.parse(await readFile(cacheFile, 'utf8')) as Json;
  } catch {
    config = await resolveWithServerless();
    await mkdir(dirname(cacheFile), { recursive: true });
    await writeFile(cacheFile, JSON.stringify(config));
  }
  return settingsFromServerless(config);
}
