import type { z } from 'zod';
import { RequestError, type ReceiveContext } from './handler.js';

/**
 * A form or query field the provider must send; a 400 naming it when missing or empty.
 *
 * @example const from = requireParam(ctx.params(), 'From');
 */
export function requireParam(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value.trim() === '') throw new RequestError(400, `missing required field "${name}"`);
  return value;
}

/**
 * The JSON body validated against a zod schema; a 400 naming each bad field otherwise.
 *
 * @example const update = parseJsonBody(ctx, telegramUpdateSchema);
 */
export function parseJsonBody<S extends z.ZodType>(ctx: ReceiveContext, schema: S): z.output<S> {
  return parseWith(schema, ctx.json());
}

/** Validates any value against a schema, answering 400 with the path of each bad field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'body';
    return `${path}: ${issue.message}`;
  });
  throw new RequestError(400, `invalid request: ${problems.join('; ')}`);
}
