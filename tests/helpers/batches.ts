import type { Context, SQSEvent } from 'aws-lambda';
import { sqsBatch } from '../../functions/handler.ts';
import { type ReplicateBatchDeps, replicateMessages } from '../../lib/replicate/batch.ts';

/** A replication batch, wired as functions/replicate.ts wires it (messages in parallel, partial response). */
export const replicateBatch = (event: SQSEvent, context: Context, deps: ReplicateBatchDeps) =>
  sqsBatch(event, context, replicateMessages(deps), { inParallel: true });
