import type { z } from 'zod';
import { RequestError, type ReceiveContext } from './handler.js';
import { newTelUrn, UrnError, type Urn } from './urn.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `value` is a uuid in its usual spelling (any version, either case).
 *
 * @example isUuid('0191E180-7D60-7000-8000-000000000001') // true
 */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * A field that names a message Herald sent by its uuid, lowercased; a 400 naming the field when
 * it is not a uuid.
 *
 * @example const msgUuid = requireMsgUuid('id', requireParam(params, 'id'));
 */
export function requireMsgUuid(field: string, value: string): string {
  if (!isUuid(value)) throw new RequestError(400, `invalid field "${field}": "${value}" is not a message uuid`);
  return value.toLowerCase();
}

/**
 * The URN `make` builds from a field's value; a 400 naming the field when it throws a UrnError.
 *
 * @example const urn = fieldUrn('message.chat.id', () => newTelegramUrn(chat.id, chat.username));
 */
export function fieldUrn(field: string, make: () => Urn): Urn {
  try {
    return make();
  } catch (err) {
    if (err instanceof UrnError) throw new RequestError(400, `invalid field "${field}": ${err.message}`);
    throw err;
  }
}

/**
 * A phone number (or short code, or alphanumeric sender id such as `MTN`) a provider sent in
 * `field`, as a `tel:` URN normalised with the channel's country; a 400 naming the field otherwise.
 *
 * @example phoneUrn('From', '0788 383 383', 'RW') // 'tel:+250788383383'
 */
export function phoneUrn(field: string, value: string, country: string | null): Urn {
  return fieldUrn(field, () => newTelUrn(value, country, { allowSenderId: true }));
}

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
