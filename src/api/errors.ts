import type { z } from 'zod';

/** One bad field of a request: its path (`messages.3.urn`) and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * An API error as CONTRACT §3 shapes it: `{"error": {"code", "message", "details"?}}`, with the
 * HTTP status it is answered with. Throw it from a route; the API's error handler answers it.
 *
 * @example throw new ApiError(404, 'channel_not_found', `no channel with uuid ${uuid}`);
 */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 503,
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
  }

  toJSON(): { error: { code: string; message: string; details?: FieldProblem[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/**
 * A 400 naming each field that failed validation.
 *
 * @example throw invalidFields([{ field: 'urn', message: 'is not a valid phone number' }]);
 */
export function invalidFields(details: FieldProblem[]): ApiError {
  const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  return new ApiError(400, 'invalid_request', summary, details);
}

/** The problems of a failed zod parse, one per field, with `prefix` before each path. */
export function zodProblems(error: z.ZodError, prefix = ''): FieldProblem[] {
  const field = (path: readonly PropertyKey[]) => [prefix, ...path.map(String)].filter((p) => p !== '').join('.') || '(body)';
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: field([...issue.path, key]), message: 'is not a known field' }))
      : [{ field: field(issue.path), message: issue.message }],
  );
}
