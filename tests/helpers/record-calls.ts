/**
 * Integration project setup: when the npm script names a folder (S3DR_IAM_CALLS_DIR), the handlers'
 * requests in this test file — in this process and in the `npm run verify|restore` processes it starts —
 * are recorded to a file of its own there (local/call-recorder.ts), for tests/iam/recorded-calls.test.ts.
 */
import { rmSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { expect } from '@jest/globals';
import { recordingName } from './iam-call-log.ts';
import { root } from './template.ts';

const dir = process.env.S3DR_IAM_CALLS_DIR;
const testPath = expect.getState().testPath;
if (dir && testPath) {
  const file = resolve(root, dir, recordingName(relative(root, testPath)));
  rmSync(file, { force: true });
  process.env.S3DR_RECORD_CALLS = file;
}
