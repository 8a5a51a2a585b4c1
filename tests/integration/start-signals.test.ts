/**
 * `npm start` stopped the way people stop it: Ctrl-C in a terminal, which signals the whole foreground
 * process group (parent and emulator child alike), or SIGTERM. The first signal must drain: no new work,
 * in-flight work finishes, then the emulator stops. A second one stops at once. Nothing is left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from '@jest/globals';
import { mapConcurrent } from '../../lib/core/map-concurrent.ts';
import { putObject } from '../helpers/objects.ts';
import { runProcess } from '../helpers/run-process.ts';
import { scaled } from '../helpers/time-scale.ts';

interface Started {
  child: ChildProcess;
  endpoint: string;
  source: string;
  output: () => string;
  /** Resolves when the output matches; rejects, with the output, if the process exits first. */
  waitFor: (pattern: RegExp) => Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts `npm start`'s script in its own process group, as a shell runs a foreground job. */
function startRuntime(variables: Record<string, string> = {}): Started {
  const dataDir = variables.S3DR_DATA_DIR ?? mkdtempSync(join(tmpdir(), 's3dr-start-'));
  // A person's shell: none of the variables the test setup gives handlers.
  const shell = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('S3DR_')));
  const child = spawn(process.execPath, ['--no-warnings', 'scripts/start.ts'], {
    env: {
      ...shell,
      NODE_OPTIONS: '',
      S3DR_PORT: '0',
      S3DR_VERIFY_INTERVAL_MS: '3600000',
      S3DR_DATA_DIR: dataDir,
      ...variables,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.push(child);
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters) w();
    }),
  );
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = text.match(pattern);
        if (m) {
          waiters.delete(check);
          resolve(m);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(check);
          reject(new Error(`the runtime exited before printing ${pattern}; it printed:\n${text}`));
        }
      };
      waiters.add(check);
      check();
    });
  return {
    child,
    endpoint: '',
    source: '',
    output: () => text,
    waitFor,
    exited,
  };
}

async function ready(started: Started): Promise<Started> {
  const [, endpoint, source] = await started.waitFor(
    /endpoint (http:\/\/127\.0\.0\.1:\d+) · source s3:\/\/(\S+)/,
  );
  await started.waitFor(/^ready in /m);
  return { ...started, endpoint: endpoint!, source: source! };
}

/** The process ids whose parent is `pid`. */
async function childrenOf(pid: number): Promise<number[]> {
  // ps exits 1 when there are none.
  const { stdout } = await runProcess('ps', ['-o', 'pid=', '--ppid', String(pid)], {
    timeoutMs: scaled(30_000),
    check: false,
  });
  return stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the process is gone (it exits by itself when its parent's IPC channel closes). */
async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((r) => setImmediate(r));
}

const clientFor = (started: Started) =>
  new S3Client({
    endpoint: started.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });

/** Every key under the prefix with its ETag, all pages. */
async function etags(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) out.set(o.Key!, o.ETag!);
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

async function writeBurst(started: Started, count: number): Promise<void> {
  const s3 = clientFor(started);
  try {
    await mapConcurrent(
      Array.from({ length: count }, (_, i) => `burst/${i}.txt`),
      16,
      (key) => putObject(s3, started.source, key, Buffer.from(key)),
    );
  } finally {
    s3.destroy();
  }
}

describe('starting npm start', () => {
  it('refuses a misspelt variable before it starts anything, naming the likely one', async () => {
    const rt = startRuntime({ S3DR_DELETE_POLCY: 'mirror' });
    const { code } = await rt.exited;
    expect(code).toBe(1);
    expect(rt.output()).toContain(
      'npm start: S3DR_DELETE_POLCY is not an s3-dr variable (did you mean S3DR_DELETE_POLICY?)',
    );
    expect(rt.output()).not.toContain('ready in');
  }, 60_000);
});

describe('stopping npm start', () => {
  it('drains on the first Ctrl-C to the process group: no failed task, emulator stopped last, no orphan', async () => {
    const rt = await ready(startRuntime());
    const [emulatorPid] = await childrenOf(rt.child.pid!);
    expect(emulatorPid).toBeDefined();
    await writeBurst(rt, 300);

    // A terminal's Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-rt.child.pid!, 'SIGINT');
    const { code } = await rt.exited;

    expect(rt.output()).toMatch(/SIGINT: no new work; finishing in-flight work \(up to 30 s/);
    const last = rt.output().match(/^stopped\. (.*)$/m);
    expect(last?.[1]).toMatch(/failed 0 \|/);
    expect(rt.output()).not.toMatch(/ECONNREFUSED|abandoned/);
    expect(code).toBe(0);
    await gone(emulatorPid!);
  }, 120_000);

  it('stops at once on a second signal, leaving no process behind', async () => {
    const rt = await ready(startRuntime());
    const [emulatorPid] = await childrenOf(rt.child.pid!);
    expect(emulatorPid).toBeDefined();
    await writeBurst(rt, 100);

    // Two different signals back to back, so the kernel cannot merge them into one: whichever is
    // handled first starts the drain, the other ends it at once.
    process.kill(-rt.child.pid!, 'SIGTERM');
    process.kill(-rt.child.pid!, 'SIGINT');
    const { code } = await rt.exited;

    expect(rt.output()).toMatch(/(SIGINT|SIGTERM): no new work/);
    expect(rt.output()).toMatch(/(SIGINT|SIGTERM) again: stopping now/);
    expect(rt.output()).not.toMatch(/^stopped/m);
    expect(code).toBe(130);
    await gone(emulatorPid!);
  }, 120_000);
});

describe('restarting npm start on its data folder', () => {
  it('loses nothing S3 acknowledged when killed with -9 mid-burst: after a restart DR converges to the source', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 's3dr-kill-'));
    const first = await ready(startRuntime({ S3DR_DATA_DIR: dataDir }));
    const s3 = clientFor(first);
    const acknowledged = new Set<string>();
    let killed = false;
    const keys = Array.from({ length: 2000 }, (_, i) => `kill9/${String(i).padStart(4, '0')}.txt`);
    await mapConcurrent(keys, 16, async (key) => {
      if (killed) return;
      try {
        await putObject(s3, first.source, key, Buffer.from(key));
        acknowledged.add(key);
      } catch {
        return; // refused or cut off by the kill: not acknowledged, so nothing is owed
      }
      if (acknowledged.size === 1000 && !killed) {
        killed = true;
        process.kill(-first.child.pid!, 'SIGKILL'); // the whole group: runtime and emulator at once
      }
    });
    s3.destroy();
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await ready(startRuntime({ S3DR_DATA_DIR: dataDir }));
    const s3again = clientFor(second);
    try {
      const source = await etags(s3again, second.source, 'kill9/');
      for (const key of acknowledged) expect(source.has(key)).toBe(true);
      // Replication (tasks kept in the queue) and the verify pass a restart runs on its own converge.
      let dr = await etags(s3again, 'dr-bucket', 'kill9/');
      while ([...source].some(([key, etag]) => dr.get(key) !== etag)) {
        await new Promise((r) => setTimeout(r, 500)); // poll the listing until DR has caught up
        dr = await etags(s3again, 'dr-bucket', 'kill9/');
      }
      expect(new Map([...dr].filter(([key]) => source.has(key)))).toEqual(source);
    } finally {
      s3again.destroy();
      process.kill(-second.child.pid!, 'SIGINT');
      await second.exited;
    }
  }, 300_000);
});
