/**
 * Error hierarchy of s3-dr. Every error a handler can raise on purpose is a `DrError`, so logs and
 * reports can tell "we refused this on purpose" from "something broke".
 */
export class DrError extends Error {
  // Each class names itself in a literal, not `new.target.name`: the Lambda bundles are minified
  // without keepNames (docs/performance.md#cold-starts), so class names there are one or two letters,
  // while logs, reports and the operator read `name` (tests/unit/errors.test.ts,
  // tests/package/bundle-errors.test.ts).
  override name = 'DrError';
}

/** Environment/stage configuration is invalid: raised at cold start, names the variable. */
export class ConfigError extends DrError {
  override name = 'ConfigError';
}

/** An inbound payload (S3 notification, SQS body, invoke payload) does not have the expected shape. */
export class InvalidPayloadError extends DrError {
  override name = 'InvalidPayloadError';
}

/** A task names something this deployment must not touch (unconfigured bucket, reserved key, …). */
export class RejectedTaskError extends DrError {
  override name = 'RejectedTaskError';
}

/** The source changed under a conditional copy more often than we are willing to chase it. */
export class SourceChangedError extends DrError {
  override name = 'SourceChangedError';
}

/** Work was stopped before the Lambda deadline; the task will be redelivered and resumes. */
export class DeadlineError extends DrError {
  override name = 'DeadlineError';
}

/** Some queue entries could not be sent after retries. */
export class EnqueueError extends DrError {
  override name = 'EnqueueError';
}

/**
 * The same long run (same function, same request) is already in progress: refused so that a client's
 * re-sent invoke cannot start it twice. The message names the run that holds the lease.
 */
export class ConcurrentRunError extends DrError {
  override name = 'ConcurrentRunError';
}

/** A restore request is not allowed (target off the allow-list, wrong region, …). */
export class RestoreRefusedError extends DrError {
  override name = 'RestoreRefusedError';
}

/** A listing came back out of S3's UTF-8 byte order: comparing it would misclassify keys. */
export class ListingOrderError extends DrError {
  override name = 'ListingOrderError';
}

/** Narrow an unknown thrown value to something with a name and message. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'NonError', message: String(error) };
}

/** A conditional request's precondition (If-Match / CopySourceIfMatch) failed: the object moved on. */
export class PreconditionFailedError extends DrError {
  override name = 'PreconditionFailedError';
}

/** The object, version or upload addressed does not exist (any more). */
export class ObjectNotFoundError extends DrError {
  override name = 'ObjectNotFoundError';
}

/**
 * S3 refused to read an archived object (GLACIER, DEEP_ARCHIVE, an Intelligent-Tiering archive tier)
 * that has no restored copy: `InvalidObjectState` (403), or `ObjectNotInActiveTierError` as CopyObject's
 * model names it. Not a failure of s3-dr: the object cannot be copied until it is restored.
 */
export class ObjectArchivedError extends DrError {
  override name = 'ObjectArchivedError';
}

/**
 * The object is encrypted with a customer-provided key (SSE-C): S3 reads it (HEAD included) only with
 * that key, which s3-dr never holds. CopyObject answers 400 `InvalidRequest` ("The object was stored using
 * a form of Server Side Encryption…"); HeadObject answers a bare 400.
 */
export class SseCustomerKeyRequiredError extends DrError {
  override name = 'SseCustomerKeyRequiredError';
}

/** A job request names no job this stage knows (`{"job": "<id>"}` with an unknown id). */
export class UnknownJobError extends DrError {
  override name = 'UnknownJobError';
}

/** A job id of another stage: this stage never reads or changes it. */
export class OtherStageJobError extends DrError {
  override name = 'OtherStageJobError';
}

/** A job id of another kind: a restore job's id given to verify, or a verify job's to restore. */
export class OtherKindJobError extends DrError {
  override name = 'OtherKindJobError';
}

/** A cancel of a job that has already finished (complete, failed or cancelled). */
export class JobFinishedError extends DrError {
  override name = 'JobFinishedError';
}

/**
 * The identical request already runs as a job, and this one differs from it only in `dryRun`: a dry run
 * and a real run of the same request never run at once. The message names the running job.
 */
export class JobConflictError extends DrError {
  override name = 'JobConflictError';
}

/** A job shard could not be done (every key of a batch failed, or its state is missing): it is retried. */
export class ShardFailedError extends DrError {
  override name = 'ShardFailedError';
}

/** Another delivery holds this job shard: the message comes back after the visibility timeout. */
export class ShardBusyError extends DrError {
  override name = 'ShardBusyError';
}
