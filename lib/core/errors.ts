/**
 * Error hierarchy of s3-dr. Every error a handler can raise on purpose is a `DrError`, so logs and
 * reports can tell "we refused this on purpose" from "something broke".
 */
export class DrError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Environment/stage configuration is invalid: raised at cold start, names the variable. */
export class ConfigError extends DrError {}

/** An inbound payload (S3 notification, SQS body, invoke payload) does not have the expected shape. */
export class InvalidPayloadError extends DrError {}

/** A task names something this deployment must not touch (unconfigured bucket, reserved key, …). */
export class RejectedTaskError extends DrError {}

/** The source changed under a conditional copy more often than we are willing to chase it. */
export class SourceChangedError extends DrError {}

/** Work was stopped before the Lambda deadline; the task will be redelivered and resumes. */
export class DeadlineError extends DrError {}

/** Some queue entries could not be sent after retries. */
export class EnqueueError extends DrError {}

/**
 * The same long run (same function, same request) is already in progress: refused so that a client's
 * re-sent invoke cannot start it twice. The message names the run that holds the lease.
 */
export class ConcurrentRunError extends DrError {}

/** A restore request is not allowed (target off the allow-list, wrong region, …). */
export class RestoreRefusedError extends DrError {}

/** A listing came back out of S3's UTF-8 byte order: comparing it would misclassify keys. */
export class ListingOrderError extends DrError {}

/** Narrow an unknown thrown value to something with a name and message. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'NonError', message: String(error) };
}

/** A conditional request's precondition (If-Match / CopySourceIfMatch) failed: the object moved on. */
export class PreconditionFailedError extends DrError {}

/** The object, version or upload addressed does not exist (any more). */
export class ObjectNotFoundError extends DrError {}

/**
 * S3 refused to read an archived object (GLACIER, DEEP_ARCHIVE, an Intelligent-Tiering archive tier)
 * that has no restored copy: `InvalidObjectState` (403), or `ObjectNotInActiveTierError` as CopyObject's
 * model names it. Not a failure of s3-dr: the object cannot be copied until it is restored.
 */
export class ObjectArchivedError extends DrError {}

/**
 * The object is encrypted with a customer-provided key (SSE-C): S3 reads it (HEAD included) only with
 * that key, which s3-dr never holds. CopyObject answers 400 `InvalidRequest` ("The object was stored using
 * a form of Server Side Encryption…"); HeadObject answers a bare 400.
 */
export class SseCustomerKeyRequiredError extends DrError {}

/** A job request names no job this stage knows (`{"job": "<id>"}` with an unknown id). */
export class UnknownJobError extends DrError {}

/** A job id of another stage: this stage never reads or changes it. */
export class OtherStageJobError extends DrError {}

/** A job id of another kind: a restore job's id given to verify, or a verify job's to restore. */
export class OtherKindJobError extends DrError {}

/** A cancel of a job that has already finished (complete, failed or cancelled). */
export class JobFinishedError extends DrError {}

/**
 * The identical request already runs as a job, and this one differs from it only in `dryRun`: a dry run
 * and a real run of the same request never run at once. The message names the running job.
 */
export class JobConflictError extends DrError {}

/** A job shard could not be done (every key of a batch failed, or its state is missing): it is retried. */
export class ShardFailedError extends DrError {}

/** Another delivery holds this job shard: the message comes back after the visibility timeout. */
export class ShardBusyError extends DrError {}
