import { loadLocalSettings } from './settings.ts';

/** Variables a user may set when starting the local runtime, e.g. `S3DR_SOURCE_BUCKETS=a,b npm start`. */
export const USER_OVERRIDABLE = [
  'S3DR_SOURCE_BUCKETS',
  'S3DR_DR_BUCKET',
  'S3DR_DELETE_POLICY',
  'S3DR_KEY_LAYOUT',
];

/**
 * The environment the handlers run with against a local runtime on `port`: the `local` stage of
 * serverless.yml, the user's overrides, then the endpoint and queue URL of this very emulator. The
 * queue URL is addressed to 127.0.0.1 because fauxqs's own URLs use `sqs.<region>.localhost`, which
 * does not resolve everywhere.
 */
export async function localEnv(
  port: number,
  overrides: Record<string, string> = {},
  from: Record<string, string | undefined> = process.env,
): Promise<Record<string, string>> {
  const settings = await loadLocalSettings();
  const merged: Record<string, string> = {};
  for (const env of Object.values(settings.functionEnv)) Object.assign(merged, env);
  // Lambda-only: the bundles' source maps. Locally the TypeScript runs as is.
  delete merged.NODE_OPTIONS;
  for (const name of USER_OVERRIDABLE) {
    const value = from[name];
    if (value) merged[name] = value;
  }
  Object.assign(merged, overrides);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ...merged,
    S3DR_ENDPOINT_URL: endpoint,
    S3DR_FORCE_PATH_STYLE: 'true',
    S3DR_QUEUE_URL: `${endpoint}/000000000000/${settings.queue.name}`,
  };
}

/** The port of the running local runtime: S3DR_PORT, default 4566. */
export function localPort(from: Record<string, string | undefined> = process.env): number {
  const port = Number(from.S3DR_PORT ?? 4566);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`S3DR_PORT is ${from.S3DR_PORT}: not a port`);
  return port;
}
