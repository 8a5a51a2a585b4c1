/**
 * The unit project's jest environment: the scaled-time one (scaled-time-environment.js), with every way to start a subprocess replaced by one that
 * throws. Unit tests are the fast, no-process layer (issue #15): a test that packages a template, cold-starts
 * a handler or bundles with esbuild (which starts its own binary) belongs in tests/package/, and this makes
 * one that creeps in fail at once with where to move it, rather than slow every `npm run test:unit`.
 * An environment, not a setup file, because Node's child_process module is one object shared by the whole
 * jest worker: teardown puts it back even when a test file fails to load, so other projects sharing the
 * worker (`jest` run with no --selectProjects) keep their subprocesses.
 * JavaScript, like jest.config.js: jest loads environments with require(), outside the ESM transform.
 */
import childProcess from 'node:child_process';
import ScaledTimeEnvironment from './scaled-time-environment.js';

export const NO_SUBPROCESS = 'unit tests run no subprocess; move this test to tests/package/';

const guarded = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];

export default class NoSubprocessEnvironment extends ScaledTimeEnvironment {
  /** @type {Map<string, unknown>} */
  #originals = new Map();

  async setup() {
    await super.setup();
    for (const name of guarded) {
      this.#originals.set(name, childProcess[name]);
      childProcess[name] = (/** @type {unknown} */ command) => {
        throw new Error(`${NO_SUBPROCESS} (child_process.${name}(${JSON.stringify(command)}))`);
      };
    }
  }

  async teardown() {
    for (const [name, original] of this.#originals) childProcess[name] = original;
    await super.teardown();
  }
}
