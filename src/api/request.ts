import type { Context } from 'hono';
import { z } from 'zod';
import { isUuid } from '../request-fields.js';
import { ApiError, invalidFields, zodProblems } from './errors.js';

/** Largest JSON body the API reads: a batch of 1,000 messages fits with room to spare. */
export const MAX_API_BODY_BYTES = 5 * 1024 * 1024;

/**
 * The request's raw JSON text: 413 over the limit, 400 when it is not JSON at all.
 *
 * @example const { raw, value } = await readJson(c);
 */
export async function readJson(c: Context): Promise<{ raw: string; value: unknown }> {
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_API_BODY_BYTES) throw tooLarge();
  const raw = await c.req.text();
  if (Buffer.byteLength(raw) > MAX_API_BODY_BYTES) throw tooLarge();
  if (raw.trim() === '') throw invalidFields([{ field: '(body)', message: 'request body is empty; expected a JSON object' }]);
  try {
    return { raw, value: JSON.parse(raw) };
  } catch (err) {
    throw invalidFields([{ field: '(body)', message: `not valid JSON: ${(err as Error).message}` }]);
  }
}

/**
 * Validates a value against a schema: a 400 naming each bad field otherwise.
 *
 * @example const body = validate(channelCreate, (await readJson(c)).value);
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidFields(zodProblems(result.error, prefix));
  return result.data;
}

/** A uuid from the path; a 404 (there is no such thing) when it is not one. */
export function pathUuid(c: Context, name: string, what: string): string {
  const value = c.req.param(name) ?? '';
  if (!isUuid(value)) throw new ApiError(404, `${what}_not_found`, `no ${what} with uuid "${value}"`);
  return value.toLowerCase();
}

/** The query string's `limit`: 1 to `max`, `fallback` when absent. */
export function limitParam(c: Context, fallback: number, max: number): number {
  const raw = c.req.query('limit');
  if (raw === undefined) return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw invalidFields([{ field: 'limit', message: `must be a whole number from 1 to ${max} (got "${raw}")` }]);
  }
  return Number(raw);
}

function tooLarge(): ApiError {
  return new ApiError(413, 'body_too_large', `request body is over ${MAX_API_BODY_BYTES / 1024 / 1024} MiB`);
}
