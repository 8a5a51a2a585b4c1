/**
 * `npm run test:e2e -- [--stage <name>] [--region <r>] [--wait-seconds <n>] [--max-multipart-mib <n>]`:
 * the command line of scripts/e2e.ts, turned into the environment the jest suite reads
 * (target.ts, e2eOptionsFromEnv).
 */
import { parseArgs } from 'node:util';
import { E2eRefusedError } from './errors.ts';

export function e2eEnvFromArgs(argv: string[]): Record<string, string> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stage: { type: 'string' },
        region: { type: 'string' },
        'wait-seconds': { type: 'string' },
        'max-multipart-mib': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new E2eRefusedError(
      `${(error as Error).message}. Usage: npm run test:e2e -- [--stage <name> [--region <source region>]] [--wait-seconds <n>] [--max-multipart-mib <n>]`,
      { cause: error },
    );
  }
  if (values.region !== undefined && values.stage === undefined) {
    throw new E2eRefusedError('--region applies to a deployed stage: give --stage <name> too');
  }
  const env: Record<string, string> = {};
  if (values.stage !== undefined) {
    if (!/^[a-zA-Z0-9-]+$/.test(values.stage))
      throw new E2eRefusedError(`--stage ${values.stage}: not a stage name`);
    env.S3DR_E2E_STAGE = values.stage;
  }
  if (values.region !== undefined) env.S3DR_E2E_REGION = values.region;
  if (values['wait-seconds'] !== undefined) env.S3DR_E2E_WAIT_SECONDS = values['wait-seconds'];
  if (values['max-multipart-mib'] !== undefined) env.S3DR_E2E_MAX_MULTIPART_MIB = values['max-multipart-mib'];
  return env;
}
