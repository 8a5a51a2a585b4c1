import type { SQSEvent } from 'aws-lambda';
import { loadConfig } from '../lib/core/config.ts';
import { replicateMessages } from '../lib/replicate/batch.ts';
import { lambdaHandler, sqsBatch } from './handler.ts';
import { replicateSettings, storesRuntime } from './runtime.ts';

// Only S3 stores: no SQS client in this bundle (functions/runtime.ts).
const config = loadConfig();
const stores = storesRuntime(config);
const settings = replicateSettings(config);

/** SQS batch of tasks → reconcile each key, in parallel → partial batch response. */
export const { run, handler } = lambdaHandler((event: SQSEvent, invocation) =>
  sqsBatch(
    event,
    invocation.context,
    replicateMessages({ ...invocation, sourceStore: stores.sourceStore, dr: stores.dr, settings }),
    { inParallel: true },
  ),
);
