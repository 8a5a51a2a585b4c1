/**
 * The floor of a function's cold start, for `npm run bench:cold`: a synthetic bundle that imports and
 * constructs only what the function must load whatever s3-dr's own code does — the SDK clients it uses,
 * Powertools' Logger and Metrics (and Batch where the function processes SQS batches), middy with the
 * two Powertools middlewares — built with the same esbuild options and plugins as `sls package`
 * (serverless.yml custom.esbuild). Timed in the function's own environment beside the function, it
 * splits the function's init into "the floor" and "ours = init − floor": the part s3-dr can still move.
 *
 * Which clients a function uses is read from its real bundle: the function's entry is built the same way
 * with a metafile, and every `@aws-sdk/client-*` package that reaches the output is constructed once in
 * the floor (one client per service, as the function builds at least one).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { get, printConfig } from '../tests/helpers/template.ts';

/** The client class each SDK package a function may bundle exports. An unknown one fails the benchmark. */
const CLIENT_CLASSES: Record<string, string> = { s3: 'S3Client', sqs: 'SQSClient' };

/** What a function's real bundle holds of the mandated dependencies. */
export interface FloorParts {
  /** SDK client packages, e.g. `s3`, `sqs` (from `@aws-sdk/client-s3`, …). */
  clients: string[];
  /** Whether SQS invokes it with batches, which s3-dr processes with Powertools' Batch (functions/handler.ts). */
  batch: boolean;
}

/** serverless.yml custom.esbuild of the project in `projectDir` as esbuild options, plugins loaded. */
export async function slsBuildOptions(projectDir: string): Promise<BuildOptions> {
  const esbuild = get(await printConfig('dev'), 'custom', 'esbuild') as Record<string, unknown>;
  // serverless-esbuild's own keys, not esbuild options (tests/package/bundle-contents.test.ts does the same).
  const { outputWorkFolder, exclude, outputFileExtension, plugins: file, ...options } = esbuild;
  const plugins =
    typeof file === 'string' ? (createRequire(import.meta.url)(join(projectDir, file)) as Plugin[]) : [];
  return { ...(options as BuildOptions), plugins, absWorkingDir: projectDir, logLevel: 'silent' };
}

/**
 * The SDK clients that reach a function's bundle, from a metafile build of its entry. Batch comes from how
 * the function is invoked, not from its bundle: every handler module imports functions/handler.ts, which
 * holds the batch helper, so the package reaches bundles whose function never gets a batch.
 */
export async function floorPartsOf(
  options: BuildOptions,
  entry: string,
  outfile: string,
  batch: boolean,
): Promise<FloorParts> {
  const result = await build({ ...options, entryPoints: [entry], outfile, metafile: true });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  const files = Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([file]) => file);
  const clients = new Set<string>();
  for (const file of files) {
    const client = /node_modules\/@aws-sdk\/client-([a-z0-9-]+)\//.exec(file)?.[1];
    if (client) clients.add(client);
  }
  for (const client of clients) {
    if (!CLIENT_CLASSES[client]) throw new Error(`${entry} bundles @aws-sdk/client-${client}: add its class`);
  }
  return { clients: [...clients].sort(), batch };
}

/**
 * The floor's source: the same constructions s3-dr's composition root makes at module load
 * (lib/aws/observability.ts, functions/handler.ts), each client once, with nothing of s3-dr.
 */
export function floorSource(parts: FloorParts): string {
  const lines = [
    "import middy from '@middy/core';",
    "import { Logger } from '@aws-lambda-powertools/logger';",
    "import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';",
    "import { Metrics } from '@aws-lambda-powertools/metrics';",
    "import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';",
    ...parts.clients.map((c) => `import { ${CLIENT_CLASSES[c]} } from '@aws-sdk/client-${c}';`),
    ...(parts.batch
      ? ["import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';"]
      : []),
    "const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 's3-dr';",
    'const logger = new Logger({ serviceName });',
    "const metrics = new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'S3DR', logger });",
    `const clients = [${parts.clients.map((c) => `new ${CLIENT_CLASSES[c]}({ region: process.env.AWS_REGION })`).join(', ')}];`,
    // The handler uses what it imports, so that esbuild keeps it; it never runs in the benchmark.
    parts.batch
      ? 'const work = (event, context) => processPartialResponse(event, async () => clients.length, new BatchProcessor(EventType.SQS), { context });'
      : 'const work = async () => clients.length;',
    'export const handler = middy().use(injectLambdaContext(logger, { resetKeys: true })).use(logMetrics(metrics)).handler(work);',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Builds the floor bundle of `parts` at `outfile` (a `.cjs`), as `sls package` would build a function;
 * returns the source files that reached it.
 */
export async function buildFloor(
  options: BuildOptions,
  parts: FloorParts,
  outfile: string,
): Promise<string[]> {
  const result = await build({
    ...options,
    stdin: {
      contents: floorSource(parts),
      // Resolves the dependencies from the project's node_modules, as the function's own imports do.
      resolveDir: options.absWorkingDir,
      sourcefile: 'floor.js',
      loader: 'js',
    },
    outfile,
    metafile: true,
  });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  return Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([file]) => file);
}
