import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { putObject, snapshot } from '../helpers/objects.ts';
import { runProcess } from '../helpers/run-process.ts';
import { SLS_TIMEOUT_MS } from '../helpers/template.ts';
import { scaled } from '../helpers/time-scale.ts';

// A user debugging a message runs the real, bundled handler with `sls invoke local` against `npm start`.
// The `local` stage resolves offline; only the port of this runtime is passed in.
let rt: LocalRuntime;
beforeAll(async () => {
  rt = await startLocalRuntime({ port: 0, quiet: true });
}, 60_000);
afterAll(async () => {
  await rt?.stop();
});

describe('sls invoke local against a running local runtime', () => {
  it(
    'replays the sample SQS batch and repairs a DR copy lost behind the pipeline’s back',
    async () => {
      const source = rt.config.sourceBuckets[0]!;
      const key = 'photos/2026/a b+c été.jpg'; // the put in events/sqs-batch.json (empty body, ETag d41d8…)
      await putObject(rt.s3, source, key, Buffer.alloc(0));
      await rt.drain(scaled(60_000));
      await rt.s3.send(new DeleteObjectCommand({ Bucket: rt.config.drBucket, Key: key }));
      expect(await snapshot(rt.s3, rt.config.drBucket, key)).toBeUndefined();

      const { stdout } = await runProcess(
        process.execPath,
        [
          'node_modules/osls/bin/serverless.js',
          'invoke',
          'local',
          '-f',
          'replicate',
          '--stage',
          'local',
          '--path',
          'events/sqs-batch.json',
          '-e',
          `S3DR_ENDPOINT_URL=${rt.endpoint}`,
          '-e',
          `S3DR_QUEUE_URL=${rt.queueUrl}`,
        ],
        { timeoutMs: SLS_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '', AWS_ENDPOINT_URL: '' } },
      );

      expect(stdout).toContain('"batchItemFailures": []');
      expect(await snapshot(rt.s3, rt.config.drBucket, key)).toEqual(await snapshot(rt.s3, source, key));
    },
    SLS_TIMEOUT_MS + 60_000,
  );
});
