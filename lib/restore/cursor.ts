import { createHash } from 'node:crypto';
import { InvalidRestorePayloadError, type RestorePayload } from './payload.ts';

/**
 * Where a time-boxed restore stopped: every key up to and including `after` (in S3's UTF-8 byte order)
 * has been handled. The cursor is bound to the request it came from, so it cannot be replayed against a
 * different one (another prefix, as-of time, target, or a real run after a dry run) and skip keys there.
 */
export interface RestoreCursor {
  after: string;
}

interface CursorBody {
  v: 1;
  /** Fingerprint of the request. */
  f: string;
  a: string;
}

/** What makes two restore requests "the same" for a cursor: everything but paging and limits. */
export function requestFingerprint(payload: RestorePayload, source: string): string {
  const identity = {
    source,
    keys: payload.keys ? [...new Set(payload.keys)].sort() : undefined,
    prefix: payload.prefix,
    asOf: payload.asOf ? new Date(payload.asOf).toISOString() : undefined,
    includeDeleted: payload.includeDeleted,
    target: payload.target ?? null,
    overwrite: payload.overwrite,
    dryRun: payload.dryRun,
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('base64url').slice(0, 16);
}

/** Encodes a cursor as an opaque URL-safe string. */
export function encodeCursor(cursor: RestoreCursor, fingerprint: string): string {
  const body: CursorBody = { v: 1, f: fingerprint, a: cursor.after };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/** Decodes a cursor returned by an earlier invocation of the same request; refuses anything else. */
export function decodeCursor(text: string, fingerprint: string): RestoreCursor {
  let body: Partial<CursorBody>;
  try {
    body = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<CursorBody>;
  } catch (error) {
    throw new InvalidRestorePayloadError(
      'Invalid restore payload: cursor: is not a cursor a restore returned',
      {
        cause: error,
      },
    );
  }
  if (body?.v !== 1 || typeof body.a !== 'string' || typeof body.f !== 'string') {
    throw new InvalidRestorePayloadError(
      'Invalid restore payload: cursor: is not a cursor a restore returned',
    );
  }
  if (body.f !== fingerprint) {
    throw new InvalidRestorePayloadError(
      'Invalid restore payload: cursor: belongs to a different request (source, keys/prefix, asOf, includeDeleted, target, overwrite or dryRun differ); pass it only with the payload that returned it, or drop it to start over',
    );
  }
  return { after: body.a };
}
