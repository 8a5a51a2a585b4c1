/**
 * One factor for every bound the tests put on time. A busy machine (CI on 2 shared cores) makes everything
 * slower by the same factor, so jest's testTimeout, per-test timeouts, subprocess bounds and waits for the
 * local runtime all go through `scaled`: `TEST_TIME_SCALE=2 npm test` doubles every one of them, and a
 * slow machine never fails a test that a quiet one passes. Bounds only: a test never waits for a time to pass.
 * jest.config.js scales testTimeout, and tests/helpers/scaled-time-environment.js each test's and hook's own
 * timeout; both read the same variable (they are JavaScript and cannot import this file). Its name is
 * outside the S3DR_ namespace on purpose: the local CLIs refuse S3DR_ variables they do not know (a typo
 * guard), and the tests' environment reaches the CLIs they start.
 */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.TEST_TIME_SCALE;
  if (text === undefined || text === '') return 1;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 1) {
    throw new Error(`TEST_TIME_SCALE is "${text}"; it must be a number ≥ 1 (default 1)`);
  }
  return value;
}

/** `ms` times the machine's time scale: the bound to put on something that takes at most `ms` on a quiet machine. */
export const scaled = (ms: number): number => Math.round(ms * timeScale());
