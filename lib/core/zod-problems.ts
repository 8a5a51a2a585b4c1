import type * as z from './zod.ts';

/** How one caller words the problems of a value its schema refused. */
export interface ProblemWording {
  /** The name given to an issue about the value as a whole (default: none, the message alone). */
  root?: string;
  /** Between the field and the message (default `: `). */
  separator?: string;
  /** Words one key the schema does not know, found in `field` (default: `<field.>key: is not allowed`). */
  unknownKey?: (key: string, field: string) => string;
  /** Words an issue's message (default: zod's, which the schemas set for every rule). */
  message?: (issue: z.core.$ZodIssue, field: string) => string;
}

/**
 * One problem per zod issue, `field: message`, each naming the field by its path (`target.bucket`), and
 * one per unknown key: the one way every schema's refusal is turned into text, so that every error a
 * person reads names each bad field the same way.
 */
export function zodProblems(error: z.core.$ZodError, wording: ProblemWording = {}): string[] {
  const separator = wording.separator ?? ': ';
  const unknownKey =
    wording.unknownKey ??
    ((key: string, field: string) => `${field ? `${field}.` : ''}${key}: is not allowed`);
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => unknownKey(key, path));
    const field = path || wording.root;
    const message = wording.message ? wording.message(issue, path) : issue.message;
    return [field ? `${field}${separator}${message}` : message];
  });
}
