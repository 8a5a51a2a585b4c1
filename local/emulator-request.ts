/**
 * Which S3 request a store call is made for, without AsyncLocalStorage.
 *
 * The emulator's layers (conditional writes, tagging, versioning) wrap fauxqs's store methods and need
 * the request behind each call: its headers, its reply. fauxqs 2.4.1's S3 route handlers call the store
 * synchronously (no `await` before the call, and its S3 actions are synchronous), and fastify calls the
 * route handler synchronously from the last `preHandler` hook's `done`. So a value set around that
 * `done()` is the request's for exactly the store calls it makes, and is gone when `done` returns.
 * AsyncLocalStorage gave the same answer but, on Node 22, turns on promise hooks that cost every
 * promise and socket in the process, which the benchmark's write phase measured.
 *
 * A store call made outside a request (loading persisted state, or a future asynchronous handler) sees
 * `undefined`, never another request's value; the layers treat that as "no request": the conditional
 * write, tagging and versioning tests would fail if fauxqs ever made its store calls asynchronous.
 */
export interface RequestScope<T> {
  /** The value of the request whose handler is running, if any. */
  get(): T | undefined;
  /** Runs `fn` (a hook's `done`) with `value` as the current request's value. */
  run(value: T, fn: () => void): void;
}

export function requestScope<T>(): RequestScope<T> {
  let current: T | undefined;
  return {
    get: () => current,
    run(value, fn) {
      const outer = current;
      current = value;
      try {
        fn();
      } finally {
        current = outer;
      }
    },
  };
}
