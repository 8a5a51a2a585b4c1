/**
 * The one way tests, benchmarks and scripts run a subprocess with a bound on its time. Before it, a helper
 * killed by its timeout reported "failed (1)" with an empty message (issue #15): here a kill always says
 * "<cmd> timed out after N s" and carries the output so far, and a failure says its exit code or signal
 * and its stderr.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** The bound, already scaled by the caller (tests/helpers/time-scale.ts) where it is a test's. */
  timeoutMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  input?: string;
  /** When false, a non-zero exit resolves with its code instead of throwing (a timeout always throws). */
  check?: boolean;
}

export interface RunResult {
  /** The exit code; null when a signal ended the process (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A subprocess that timed out, failed to start, or (with `check`) exited other than with code 0. */
export class ProcessError extends Error {
  readonly result: RunResult & { timedOut: boolean };

  constructor(message: string, result: RunResult & { timedOut: boolean }) {
    super(message);
    this.name = 'ProcessError';
    this.result = result;
  }
}

const commandLine = (command: string, args: readonly string[]) =>
  [command, ...args].map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

const withOutput = (head: string, stdout: string, stderr: string) =>
  `${head}\n--- stdout ---\n${stdout.slice(-20_000)}\n--- stderr ---\n${stderr.slice(-20_000)}`;

/**
 * Runs `command args` and resolves with its output once it exits. The process leads a process group of
 * its own, so a timeout kills the whole tree (`sls` and `npm` start children that would otherwise keep
 * running, and keep the pipes open, after their parent dies).
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const { timeoutMs, cwd, env, input, check = true } = options;
  const line = commandLine(command, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin.on('error', () => {
      // A process that exits without reading its stdin closes the pipe (EPIPE); its exit says what happened.
    });
    child.stdin.end(input);
    const killTree = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already; make sure the child is
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(
        new ProcessError(`${line} could not start: ${error.message}`, {
          code: null,
          signal: null,
          stdout,
          stderr,
          timedOut: false,
        }),
      );
    });
    // 'close', not 'exit': the output is complete only once the pipes are closed.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr };
      if (timedOut) {
        const seconds = Math.round(timeoutMs / 100) / 10;
        reject(
          new ProcessError(withOutput(`${line} timed out after ${seconds} s`, stdout, stderr), {
            ...result,
            timedOut,
          }),
        );
      } else if (check && code !== 0) {
        const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new ProcessError(withOutput(`${line} ${how}`, stdout, stderr), { ...result, timedOut }));
      } else resolve(result);
    });
  });
}
