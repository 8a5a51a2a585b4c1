/**
 * The local emulator (local/emulator.ts) and an S3 client for it, as the emulator-* integration tests use
 * them: a random port, path-style addressing (bucket names are not resolvable hostnames), and credentials,
 * since the emulator checks SigV4 signatures as S3 does (tests/integration/emulator-auth.test.ts).
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type Emulator, startEmulator } from '../../local/emulator.ts';

export interface TestEmulator {
  emulator: Emulator;
  s3: S3Client;
  /** Destroys the client (jest reports open sockets otherwise) and stops the emulator. */
  stop(): Promise<void>;
}

export interface TestEmulatorOptions {
  region?: string;
  /** Keep state in this folder across restarts. */
  dataDir?: string;
  /** Extra routes registered before the server listens (e.g. the status page). */
  beforeListen?: Parameters<typeof startEmulator>[0]['beforeListen'];
  /** The client's attempts per request: 1 where a test reads an error S3 would answer. */
  maxAttempts?: number;
  /** Buckets to create. */
  buckets?: string[];
}

/** An S3 client for the emulator at `endpoint`. */
export function emulatorClient(
  endpoint: string,
  options: Pick<TestEmulatorOptions, 'region' | 'maxAttempts'> = {},
) {
  return new S3Client({
    endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });
}

/** Starts the emulator on a random port with a client, and creates `buckets`. */
export async function startTestEmulator(options: TestEmulatorOptions = {}): Promise<TestEmulator> {
  const emulator = await startEmulator({
    port: 0,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.beforeListen === undefined ? {} : { beforeListen: options.beforeListen }),
  });
  const s3 = emulatorClient(emulator.endpoint, options);
  for (const bucket of options.buckets ?? []) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    emulator,
    s3,
    stop: async () => {
      s3.destroy();
      await emulator.stop();
    },
  };
}
