/**
 * The shared half of `npm run verify` and `npm run restore`: the local equivalents of `sls invoke -f
 * <name>`. Reads the payload (`--data '<JSON>'` or `--path <file>`), finds the running local runtime
 * (`npm start`, through S3DR_PORT, default 4566), and configures this process exactly as the runtime
 * configures its handlers, so the real handler can then be imported and invoked.
 */

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Context } from 'aws-lambda';
import { recordFunctionCalls } from './call-recorder.ts';
import { checkLocalVariables, LocalSettingsError, localEnv, overridableBy } from './env.ts';
import { lambdaContext } from './lambda-context.ts';
import { loadLocalSettings } from './settings.ts';

export interface LocalInvoke {
  payload: unknown;
  env: Record<string, string>;
  /** A fresh Lambda context with the function's timeout from serverless.yml. */
  context(): Context;
  /** Prints `<name>: <message>` on stderr and exits 1. */
  fail(message: string): never;
  /** `--wait` was given (commands that start jobs): follow the job to its end. */
  wait: boolean;
}

export async function prepareLocalInvoke(
  name: 'verify' | 'restore',
  options: { defaultPayload?: string; usage: string; allowWait?: boolean },
): Promise<LocalInvoke> {
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(1);
  };
  let port = 0;
  try {
    const checked = checkLocalVariables(name);
    for (const warning of checked.warnings) process.stderr.write(`${name}: warning: ${warning}\n`);
    port = checked.port;
  } catch (error) {
    if (error instanceof LocalSettingsError) fail(error.message);
    throw error;
  }
  const { values } = parseArgs({
    options: {
      data: { type: 'string', short: 'd' },
      path: { type: 'string', short: 'p' },
      ...(options.allowWait ? { wait: { type: 'boolean' as const, short: 'w' } } : {}),
    },
    strict: true,
  });
  if (values.data !== undefined && values.path !== undefined)
    fail(`give the payload with --data or --path, not both`);
  const text =
    values.data ??
    (values.path !== undefined
      ? await readFile(values.path, 'utf8').catch((e: Error) => fail(e.message))
      : (options.defaultPayload ?? fail(`give the payload with ${options.usage}`)));
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    fail(`the payload is not JSON: ${(error as Error).message}`);
  }

  const overrides: Record<string, string> = {};
  for (const variable of overridableBy(name)) {
    const value = process.env[variable];
    if (value) overrides[variable] = value;
  }
  const env = await localEnv(port, overrides);
  const endpoint = env.S3DR_ENDPOINT_URL ?? `http://127.0.0.1:${port}`;
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
  } catch (error) {
    fail(
      `no local runtime answers at ${endpoint} (${(error as Error).cause ?? (error as Error).message}); start one with \`npm start\`, or set S3DR_PORT`,
    );
  }
  // Handlers read their configuration when first imported, exactly as in Lambda. Info logs and EMF would
  // go to stdout, which carries the report: off unless asked for (warnings and errors go to stderr).
  Object.assign(process.env, env, {
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  });
  recordFunctionCalls();
  const settings = await loadLocalSettings();
  const timeoutMs = settings[name].timeoutSeconds * 1000;
  return {
    payload,
    env,
    context: () => lambdaContext(name, timeoutMs),
    fail,
    wait: (values as { wait?: boolean }).wait === true,
  };
}
