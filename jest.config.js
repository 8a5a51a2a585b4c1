// Native ESM jest: middy 7 and fauxqs ship ESM only (docs/toolchain.md).
const common = {
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } } }] },
  extensionsToTreatAsEsm: ['.ts'],
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/tests/helpers/env.ts'],
  setupFilesAfterEnv: ['<rootDir>/tests/helpers/matchers.ts'],
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      // Records the handlers' requests when S3DR_IAM_CALLS_DIR is set (npm run test:integration).
      setupFilesAfterEnv: [...common.setupFilesAfterEnv, '<rootDir>/tests/helpers/record-calls.ts'],
    },
    // What the integration project recorded, evaluated against the packaged IAM policies: run after it.
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
  collectCoverageFrom: ['lib/**/*.ts', 'functions/**/*.ts'],
};
