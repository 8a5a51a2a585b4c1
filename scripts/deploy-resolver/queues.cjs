'use strict';
/** The queues' visibility timeouts and their consumers' scaling, from the functions' timeouts. */

/** The SQS event source's ScalingConfig: MaximumConcurrency when replicateMaxConcurrency is set. */
function replicateMaxConcurrency(s) {
  return s.replicateMaxConcurrency ?? null;
}

/**
 * The job queue's visibility timeout: AWS, "Creating and configuring an Amazon SQS event source mapping":
 * "set the source queue's visibility timeout to at least six times the configuration timeout on your
 * function" (a shard that reaches its deadline re-queues itself, so the wait only follows a crash).
 */
function jobVisibilityTimeout(s) {
  return 6 * s.jobWorkerTimeout;
}

/** The job worker's event source and timeout, and the job queue's redrive. */
const jobSettings = {
  maxConcurrency: (s) => s.jobMaxConcurrency,
  workerTimeout: (s) => s.jobWorkerTimeout,
  maxReceiveCount: (s) => s.jobMaxReceiveCount,
};

/** AWS: "set the source queue's visibility timeout to at least six times the function timeout" (+ window). */
function visibilityTimeout(s) {
  return 6 * s.replicateTimeout + s.replicateBatchWindow;
}

module.exports = { replicateMaxConcurrency, jobVisibilityTimeout, jobSettings, visibilityTimeout };
