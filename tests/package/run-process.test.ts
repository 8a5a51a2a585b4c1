/**
 * tests/helpers/run-process.ts: the one helper that runs a subprocess with a bound. A kill at the bound
 * says "timed out after N s" with the output so far, and takes the whole process tree with it; a failure
 * says its exit code and stderr (issue #15: a killed `sls package` was reported as "failed (1)" with an
 * empty message).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { ProcessError, runProcess } from '../helpers/run-process.ts';
import { scaled } from '../helpers/time-scale.ts';

const node = process.execPath;
const bound = scaled(60_000);

/** Whether the process is gone: no such pid, or a zombie that nothing has reaped yet (it runs no more). */
async function gone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || / Z /.test(stat);
}

async function rejection(promise: Promise<unknown>): Promise<ProcessError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProcessError)) throw new Error(`expected a ProcessError, got ${String(error)}`);
  return error;
}

describe('runProcess', () => {
  it('resolves with what the process wrote, having given it its input', async () => {
    const result = await runProcess(
      node,
      ['-e', 'process.stdin.pipe(process.stdout); process.stderr.write("note")'],
      { input: 'hello', timeoutMs: bound },
    );
    expect(result).toEqual({ code: 0, signal: null, stdout: 'hello', stderr: 'note' });
  });

  it('rejects a non-zero exit with the command, its exit code and its stderr', async () => {
    const error = await rejection(
      runProcess(node, ['-e', 'console.error("bad things"); process.exit(3)'], { timeoutMs: bound }),
    );
    expect(error.message).toMatch(/ exited with code 3\n/);
    expect(error.message).toContain(node);
    expect(error.message).toContain('bad things');
    expect(error.result).toMatchObject({ code: 3, timedOut: false, stderr: 'bad things\n' });
  });

  it('resolves a non-zero exit with its code when asked not to check', async () => {
    const result = await runProcess(node, ['-e', 'process.exit(2)'], { timeoutMs: bound, check: false });
    expect(result.code).toBe(2);
  });

  it('says which command could not start', async () => {
    const error = await rejection(runProcess('/nonexistent/tool', ['x'], { timeoutMs: bound }));
    expect(error.message).toMatch(/^\/nonexistent\/tool x could not start: .*ENOENT/);
  });

  it(
    'kills the whole tree at the bound and says "timed out after N s", with the output so far',
    async () => {
      // The child starts a grandchild that holds the same pipes, reports both pids, and never exits; only a
      // kill of the process group lets the pipes close (without it this test would hang to jest's timeout).
      const script = `
      const { spawn } = require('node:child_process');
      const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'inherit' });
      console.log(JSON.stringify({ child: process.pid, grandchild: grandchild.pid }));
      console.error('still working');
      setInterval(() => {}, 1000);`;
      // Seconds, scaled: long enough for two Node starts on a busy machine to print before the kill.
      const timeoutMs = scaled(5_000);
      const error = await rejection(runProcess(node, ['-e', script], { timeoutMs }));
      expect(error.message).toMatch(new RegExp(`^\\S+ -e .* timed out after ${timeoutMs / 1000} s\\n`, 's'));
      expect(error.message).toContain('still working');
      expect(error.result).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
      const pids = JSON.parse(error.result.stdout) as { child: number; grandchild: number };
      expect(await gone(pids.child)).toBe(true);
      expect(await gone(pids.grandchild)).toBe(true);
    },
    scaled(60_000),
  );
});
