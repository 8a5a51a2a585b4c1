// Native ESM jest: middy 7 and fauxqs ship ESM only (docs/toolchain.md).

// Every bound on time scales by one factor (tests/helpers/time-scale.ts, which this file cannot import):
// a busy machine slows everything alike, so TEST_TIME_SCALE=2 doubles jest's default test timeout and
// (tests/helpers/scaled-time-environment.js) every test's and hook's own.
const scale = Number(process.env.TEST_TIME_SCALE || 1);
if (!Number.isFinite(scale) || scale < 1) throw new Error('TEST_TIME_SCALE must be a number ≥ 1');
const testTimeout = Math.round(5_000 * scale);

const common = {
  testTimeout,
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } } }] },
  extensionsToTreatAsEsm: ['.ts'],
  // Scales each test's own timeout by TEST_TIME_SCALE, as testTimeout is scaled above.
  testEnvironment: '<rootDir>/tests/helpers/scaled-time-environment.js',
  setupFiles: ['<rootDir>/tests/helpers/env.ts'],
  setupFilesAfterEnv: ['<rootDir>/tests/helpers/matchers.ts'],
};

/** Real handlers over the emulator; records the handlers' requests when S3DR_IAM_CALLS_DIR is set. */
const integration = {
  ...common,
  setupFilesAfterEnv: [...common.setupFilesAfterEnv, '<rootDir>/tests/helpers/record-calls.ts'],
};

/** @type {import('jest').Config} */
export default {
  projects: [
    // No network, no subprocess: its environment makes child_process throw (move such a test to package).
    {
      ...common,
      displayName: 'unit',
      testEnvironment: '<rootDir>/tests/helpers/no-subprocess-environment.js',
      testMatch: ['<rootDir>/tests/unit/**/*.test.ts'],
    },
    // Tests that start processes: `sls package` templates and the IAM evaluation of them, handler cold
    // starts, esbuild bundles, the subprocess helpers themselves. Slower; run after unit (npm run test:package).
    { ...common, displayName: 'package', testMatch: ['<rootDir>/tests/package/**/*.test.ts'] },
    {
      ...integration,
      displayName: 'integration',
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/integration/faults'],
    },
    // The fault-injection suites, in a process of their own (npm run test:faults): they bound every SDK
    // request by a short timeout on purpose, so they must not share a process whose heap the other
    // integration files have grown (jest runs files in band on 2 cores, and a long GC pause there looks
    // like a hung request).
    { ...integration, displayName: 'faults', testMatch: ['<rootDir>/tests/integration/faults*.test.ts'] },
    // What the integration and faults projects recorded, evaluated against the packaged IAM policies.
    { ...common, displayName: 'iam-calls', testMatch: ['<rootDir>/tests/iam/**/*.test.ts'] },
    {
      ...common,
      // No tests/helpers/env.ts: its dummy AWS credentials would shadow the default chain when the suite
      // runs against a deployed stage; the local target sets up its own environment.
      setupFiles: [],
      displayName: 'e2e',
      testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'],
    },
  ],
  testTimeout,
  collectCoverageFrom: ['lib/**/*.ts', 'functions/**/*.ts'],
};
