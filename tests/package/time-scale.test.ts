/**
 * Every bound on time scales by TEST_TIME_SCALE (issue #15: a slow machine must not fail a test a
 * quiet one passes): jest.config.js scales the default testTimeout, tests/helpers/scaled-time-environment.js
 * each test's own, and tests/helpers/time-scale.ts the helpers' bounds.
 */
import { describe, expect, it } from '@jest/globals';
import { runProcess } from '../helpers/run-process.ts';
import { root } from '../helpers/template.ts';
import { scaled, timeScale } from '../helpers/time-scale.ts';

interface Project {
  displayName: string;
  testEnvironment?: string;
  transform: unknown;
}
// jest.config.js is JavaScript with no declarations: the import is typed here, by what this test reads.
const configFile = '../../jest.config.js';
const config = ((await import(configFile)) as { default: { testTimeout: number; projects: Project[] } })
  .default;

describe('TEST_TIME_SCALE', () => {
  it('is 1 by default and must be a number ≥ 1', () => {
    expect(timeScale({})).toBe(1);
    expect(timeScale({ TEST_TIME_SCALE: '2.5' })).toBe(2.5);
    expect(() => timeScale({ TEST_TIME_SCALE: '0.5' })).toThrow('must be a number ≥ 1');
    expect(() => timeScale({ TEST_TIME_SCALE: 'fast' })).toThrow('TEST_TIME_SCALE is "fast"');
  });

  it('scales the default test timeout and every project uses the scaling environment', () => {
    expect(config.testTimeout).toBe(scaled(5_000));
    for (const project of config.projects) {
      expect({ project: project.displayName, environment: project.testEnvironment }).toEqual({
        project: project.displayName,
        environment: expect.stringMatching(/tests\/helpers\/(scaled-time|no-subprocess)-environment\.js$/),
      });
    }
  });

  it("scales each test's and hook's own timeout in the jest environment", async () => {
    const fixture = {
      rootDir: root,
      testEnvironment: '<rootDir>/tests/helpers/scaled-time-environment.js',
      testMatch: ['<rootDir>/tests/package/fixtures/timeouts.fixture.ts'],
      transform: config.projects[0]?.transform,
      extensionsToTreatAsEsm: ['.ts'],
    };
    const result = await runProcess(
      process.execPath,
      ['node_modules/jest/bin/jest.js', '--ci', '--config', JSON.stringify(fixture)],
      {
        cwd: root,
        env: {
          ...process.env,
          NODE_OPTIONS: '--experimental-vm-modules --no-warnings',
          TEST_TIME_SCALE: '3',
        },
        timeoutMs: scaled(120_000),
        check: false,
      },
    );
    // The fixture's test and hook never finish: each fails at its own 1 s timeout, times three.
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Exceeded timeout of 3000 ms for a test.');
    expect(result.stderr).toContain('Exceeded timeout of 3000 ms for a hook.');
  }, 180_000);
});
