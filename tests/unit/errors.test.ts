/**
 * Every s3-dr error names itself with a literal equal to its class name: the Lambda bundles are minified
 * without keepNames, where `new.target.name` or `constructor.name` would be one or two letters, and logs,
 * reports and operators read `name` (tests/package/bundle-errors.test.ts shows it in a bundle). Here, in
 * unminified sources, the class name is the reference the literal must match — a new class that forgets
 * its literal inherits its parent's name and fails below.
 */
import { describe, expect, it } from '@jest/globals';
import * as errors from '../../lib/core/errors.ts';
import { InvalidTaskBodyError } from '../../lib/core/task.ts';
import { InvalidJobRequestError } from '../../lib/jobs/model.ts';
import { InvalidRestorePayloadError } from '../../lib/restore/payload.ts';
import { InvalidVerifyPayloadError } from '../../lib/verify/payload.ts';

type ErrorClass = new (message: string, options?: { cause?: unknown }) => Error;

const classes: [string, ErrorClass][] = [
  ...Object.entries(errors as Record<string, unknown>).filter(
    (e): e is [string, ErrorClass] =>
      typeof e[1] === 'function' && (e[1] === errors.DrError || e[1].prototype instanceof errors.DrError),
  ),
  ['InvalidTaskBodyError', InvalidTaskBodyError],
  ['InvalidJobRequestError', InvalidJobRequestError],
  ['InvalidRestorePayloadError', InvalidRestorePayloadError],
  ['InvalidVerifyPayloadError', InvalidVerifyPayloadError],
];

describe('s3-dr errors', () => {
  it('are all found (the hierarchy in lib/core/errors.ts and its four payload subclasses)', () => {
    expect(classes.length).toBe(25);
  });

  it.each(classes)(
    '%s names itself, keeps its message and cause, and is a DrError',
    (exported, ErrorClass) => {
      const cause = new Error('underneath');
      const error = new ErrorClass('what happened', { cause });
      expect(error.name).toBe(exported);
      expect(error.name).toBe(ErrorClass.name);
      expect(error.message).toBe('what happened');
      expect(error.cause).toBe(cause);
      expect(error).toBeInstanceOf(errors.DrError);
      expect(String(error.stack)).toMatch(new RegExp(`^${exported}: what happened`));
      expect(errors.describeError(error)).toEqual({ name: exported, message: 'what happened' });
    },
  );
});
