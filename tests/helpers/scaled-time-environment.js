/**
 * The jest environment of every project: Node's, with each test's and hook's own timeout (`it(…, fn, 60_000)`,
 * `beforeAll(fn, 120_000)`) multiplied by TEST_TIME_SCALE (tests/helpers/time-scale.ts; jest.config.js
 * scales the default testTimeout). A busy machine slows everything by one factor (issue #15), so the bounds
 * written for a quiet one scale here, in one place, rather than in every call.
 * It acts on jest-circus's `test_fn_start` and `hook_start` events, which it dispatches just before reading
 * `timeout` to arm the timer (jest-circus run.ts, _callCircusTest and _callCircusHook).
 * JavaScript, like jest.config.js: jest loads environments with require(), outside the ESM transform.
 */
import NodeEnvironment from 'jest-environment-node';

/** TEST_TIME_SCALE, as tests/helpers/time-scale.ts reads it (this file cannot import TypeScript). */
export function timeScale(env = process.env) {
  const text = env.TEST_TIME_SCALE;
  if (text === undefined || text === '') return 1;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 1) {
    throw new Error(`TEST_TIME_SCALE is "${text}"; it must be a number ≥ 1 (default 1)`);
  }
  return value;
}

export default class ScaledTimeEnvironment extends NodeEnvironment {
  #scale = timeScale();
  /** Tests and hooks already scaled: a beforeEach hook starts once per test, with the same object. */
  #scaled = new WeakSet();

  /** @param {{ name: string, test?: { timeout?: number }, hook?: { timeout?: number } }} event */
  handleTestEvent(event) {
    const entry =
      event.name === 'test_fn_start' ? event.test : event.name === 'hook_start' ? event.hook : undefined;
    if (entry?.timeout && !this.#scaled.has(entry)) {
      entry.timeout = Math.round(entry.timeout * this.#scale);
      this.#scaled.add(entry);
    }
  }
}
