/**
 * `npm run test:e2e` — the end-to-end suite (tests/e2e) against the local runtime; with
 * `-- --stage <name> [--region <source region>]`, against that deployed stage (credentials from the
 * default chain). Runs jest's `e2e` project with the options in its environment and exits with jest's
 * code.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { e2eEnvFromArgs } from '../tests/e2e/cli-args.ts';

let env: Record<string, string>;
try {
  env = e2eEnvFromArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`test:e2e: ${(error as Error).message}\n`);
  process.exit(2);
}

const jest = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const child = spawn(process.execPath, [jest, '--selectProjects', 'e2e'], {
  stdio: 'inherit',
  env: { ...process.env, ...env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings' },
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.stderr.write(`test:e2e: jest was killed by ${signal}\n`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
