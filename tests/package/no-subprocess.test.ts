/**
 * The unit project runs no subprocess (issue #15): its jest environment
 * (tests/helpers/no-subprocess-environment.js) makes child_process throw, naming where the test belongs.
 * Shown by running jest on a fixture that starts processes, under that environment.
 */
import { describe, expect, it } from '@jest/globals';
import { runProcess } from '../helpers/run-process.ts';
import { root } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

const environment = '<rootDir>/tests/helpers/no-subprocess-environment.js';

interface Project {
  displayName: string;
  testEnvironment?: string;
  transform: unknown;
}
// jest.config.js is JavaScript with no declarations: the import is typed here, by what this test reads.
const configFile = '../../jest.config.js';
const config = ((await import(configFile)) as { default: { projects: Project[] } }).default;

describe('the unit project', () => {
  it('runs in the environment that forbids subprocesses', () => {
    const unit = config.projects.find((p) => p.displayName === 'unit');
    expect(unit?.testEnvironment).toBe(environment);
  });

  it(
    'fails a test that starts a process, directly or through esbuild, saying to move it',
    async () => {
      const fixture = {
        rootDir: root,
        testEnvironment: environment,
        testMatch: ['<rootDir>/tests/package/fixtures/spawns.fixture.ts'],
        transform: config.projects[0]?.transform,
        extensionsToTreatAsEsm: ['.ts'],
      };
      const result = await runProcess(
        process.execPath,
        ['node_modules/jest/bin/jest.js', '--ci', '--config', JSON.stringify(fixture)],
        {
          cwd: root,
          env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings' },
          timeoutMs: scaled(120_000),
          check: false,
        },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Tests:       2 failed, 2 total');
      expect(result.stderr).toContain(
        'unit tests run no subprocess; move this test to tests/package/ (child_process.execFile(',
      );
      expect(result.stderr).toContain('(child_process.spawn(');
    },
    scaled(180_000),
  );
});
