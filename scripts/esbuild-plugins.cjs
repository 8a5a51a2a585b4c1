'use strict';
/**
 * esbuild plugins for serverless-esbuild (serverless.yml custom.esbuild.plugins). CommonJS because
 * serverless-esbuild `require`s this file and package.json says `"type": "module"`.
 */
const { readFile, writeFile } = require('node:fs/promises');
const path = require('node:path');
const { keepOwnSources } = require('./own-source-map.cjs');

/** Rewrites each bundle's .map with only s3-dr's own sources (scripts/own-source-map.cjs says why). */
const ownSourceMap = {
  name: 's3dr-own-source-map',
  setup(build) {
    // The metafile names the files this build wrote (one build per function).
    build.initialOptions.metafile = true;
    build.onEnd(async (result) => {
      if (result.errors.length > 0 || !result.metafile) return;
      const cwd = build.initialOptions.absWorkingDir ?? process.cwd();
      for (const output of Object.keys(result.metafile.outputs)) {
        if (!output.endsWith('.map')) continue;
        const file = path.resolve(cwd, output);
        const map = JSON.parse(await readFile(file, 'utf8'));
        await writeFile(file, JSON.stringify(keepOwnSources(map)));
      }
    });
  },
};

/**
 * The SDK clients' default credential chain becomes its first link, `fromEnv`, in the Lambda bundles:
 * the runtime passes the role's credentials in the environment (lib/aws/lambda-credentials.ts says
 * why that is the same credentials, and what it saves).
 */
const lambdaCredentials = {
  name: 's3dr-lambda-credentials',
  setup(build) {
    const provider = path.join(__dirname, '../lib/aws/lambda-credentials.ts');
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: provider }));
  },
};

module.exports = [ownSourceMap, lambdaCredentials];
