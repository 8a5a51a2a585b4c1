import { DrError } from '../../lib/core/errors.ts';

/** The end-to-end suite will not run against this stage: nothing was written (the message says why). */
export class E2eRefusedError extends DrError {}

/** The deployed stage could not be found or described from its CloudFormation stacks. */
export class StageDiscoveryError extends DrError {}

/** A condition the suite waits for did not hold within its bounded wait. */
export class WaitTimeoutError extends DrError {}

/** Some of what a run wrote could not be deleted (other than versions the bucket policy protects). */
export class CleanupError extends DrError {}

/** A function of the stage answered with a function error (its payload is the error object). */
export class FunctionFailedError extends DrError {}
