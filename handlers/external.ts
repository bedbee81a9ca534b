/**
 * External API: a generic HTTP API for any provider or middleware Herald has no handler for
 * (with the widespread External API callback paths, so existing provider settings keep working).
 *
 * Receiving: the provider calls `receive` with the sender and text (and optionally a date and its
 * own message id) as query, form or JSON fields, whose names the channel config may change; it
 * reports on messages Herald sent by calling `sent`, `delivered` or `failed` with the message's
 * uuid as `id`, and a person's opt-out by calling `stopped` with their address as `from`.
 *
 * Sending: one request per text part to the configured `send_url`, with `{{variables}}` filled in
 * the URL and in a body template, each value encoded for where it lands (URL, form, JSON or XML).
 * The full configuration is described in docs/channels/ex.md.
 */
import { z } from 'zod';
import { withAttachmentUrls } from '../src/attachment-urls.js';
import type { Channel, ChannelConfig } from '../src/channel.js';
import {
  accepted,
  RequestError,
  type ChannelHandler,
  type HandleResult,
  type HandlerRoute,
  type ReceiveContext,
  type SendContext,
  type SendResult,
} from '../src/handler.js';
import { failOnHttpStatus } from '../src/http-client.js';
import type { MsgOut, MsgStatus } from '../src/msg.js';
import { fieldUrn, parseJsonBody, phoneUrn, requireMsgUuid } from '../src/request-fields.js';
import { ChannelConfigError, MessageInvalid, ResponseContent } from '../src/send-error.js';
import { newExtUrn, urnPath, type Urn } from '../src/urn.js';

export const externalHandler: ChannelHandler = {
  type: 'ex',
  name: 'External API',
  schemes: ['tel', 'ext'],
  maxLength: maxLengthOf,
  redact: secretsOf,
  checkConfig: (channel) => {
    schemeOf(channel);
    maxLengthOf(channel);
    // A channel may only receive; what it sends with is checked when it has a send_url.
    if (channel.config.string('send_url') !== undefined) sendSettingsOf(channel);
  },
  routes: [
    ...getAndPost('receive', receiveMsg),
    ...getAndPost('sent', receiveStatus('sent')),
    ...getAndPost('delivered', receiveStatus('delivered')),
    ...getAndPost('failed', receiveStatus('failed')),
    ...getAndPost('stopped', receiveStop),
  ],
  send,
};

function getAndPost(action: string, handle: HandlerRoute['handle']): HandlerRoute[] {
  return [
    { method: 'GET', action, handle },
    { method: 'POST', action, handle },
  ];
}

// ── receiving ────────────────────────────────────────────────────────────────────────────────

/**
 * The names a field may arrive under: the one the channel config gives it, else the default and,
 * as existing deployments send them, its alternative spelling (`sender` for `from`, `time` for `date`).
 */
function fieldNames(config: ChannelConfig, configKey: string, defaultName: string, alias?: string): [string, ...string[]] {
  const name = config.string(configKey, defaultName);
  return name === defaultName && alias ? [name, alias] : [name];
}

/**
 * An incoming message. The text field must be present but may be empty (an empty SMS still comes
 * from someone); the date, when given, is when the provider received the message.
 */
function receiveMsg(ctx: ReceiveContext): HandleResult {
  const { config } = ctx.channel;
  const fromNames = fieldNames(config, 'mo_from_field', 'from', 'sender');
  const textName = config.string('mo_text_field', 'text');
  const dateNames = fieldNames(config, 'mo_date_field', 'date', 'time');
  const idName = config.string('mo_id_field', 'id');
  const fields = readFields(ctx, [...fromNames, textName, ...dateNames, idName]);

  const urn = urnOf(ctx.channel, requireField(fields, fromNames), fromNames[0]);
  const text = fields.get(textName);
  if (text === null) throw new RequestError(400, `missing required field "${textName}"`);
  const date = optionalField(fields, dateNames);
  const receivedOn = date === undefined ? undefined : parseMoDate(date);
  if (receivedOn === null) {
    throw new RequestError(400, `invalid field "${dateNames[0]}": "${date}" is not an ISO 8601 date or unix seconds`);
  }
  const externalId = optionalField(fields, [idName]);

  return accepted(
    { msgs: [{ urn, text, ...(externalId ? { externalId } : {}), ...(receivedOn ? { receivedOn } : {}) }] },
    fixedResponse(config),
  );
}

/** A status report on a message Herald sent, named by the uuid Herald gave it (`{{id}}` when sending). */
function receiveStatus(status: Extract<MsgStatus, 'sent' | 'delivered' | 'failed'>): HandlerRoute['handle'] {
  return (ctx) => {
    const names: [string, ...string[]] = ['id', 'uuid'];
    const msgUuid = requireMsgUuid('id', requireField(readFields(ctx, names), names));
    return accepted({ statuses: [{ msgUuid, status }] });
  };
}

/** The person opted out: stop the contact. */
function receiveStop(ctx: ReceiveContext): HandleResult {
  const names = fieldNames(ctx.channel.config, 'mo_from_field', 'from', 'sender');
  const urn = urnOf(ctx.channel, requireField(readFields(ctx, names), names), names[0]);
  return accepted({ events: [{ type: 'stop_contact', urn }] });
}

const fieldValue = z.union([z.string(), z.number()]).nullish();

/**
 * The request's fields: the query string and form fields, overlaid with the named fields of a JSON
 * body when the provider posts JSON (strings or numbers; anything else is a 400 naming the field).
 */
function readFields(ctx: ReceiveContext, names: string[]): URLSearchParams {
  const fields = new URLSearchParams(ctx.params());
  const contentType = ctx.request.headers.get('content-type') ?? '';
  if (ctx.request.method !== 'POST' || !/[/+]json\b/i.test(contentType)) return fields;

  const body: Record<string, unknown> = parseJsonBody(ctx, z.looseObject(Object.fromEntries(names.map((n) => [n, fieldValue]))));
  for (const name of names) {
    const value = body[name];
    if (typeof value === 'string' || typeof value === 'number') fields.set(name, String(value));
  }
  return fields;
}

/** The first of `names` that has a non-blank value; a 400 naming the first when none has. */
function requireField(fields: URLSearchParams, names: [string, ...string[]]): string {
  const value = optionalField(fields, names);
  if (value === undefined) throw new RequestError(400, `missing required field "${names[0]}"`);
  return value;
}

function optionalField(fields: URLSearchParams, names: string[]): string | undefined {
  for (const name of names) {
    const value = fields.get(name)?.trim();
    if (value) return value;
  }
  return undefined;
}

function schemeOf(channel: Channel): 'tel' | 'ext' {
  const scheme = channel.config.string('scheme', 'tel');
  if (scheme !== 'tel' && scheme !== 'ext') {
    throw new ChannelConfigError(`channel config "scheme" must be "tel" or "ext", not "${scheme}"`);
  }
  return scheme;
}

/** The sender's URN in the channel's `scheme`: a phone number or sender id (`tel`), or any id (`ext`). */
function urnOf(channel: Channel, raw: string, field: string): Urn {
  const scheme = schemeOf(channel);
  return scheme === 'tel' ? phoneUrn(field, raw, channel.country) : fieldUrn(field, () => newExtUrn(raw));
}

/** `mo_response` answered as is (with `mo_response_content_type`), for providers that expect a set reply. */
function fixedResponse(config: ChannelConfig): (() => Response) | undefined {
  const body = config.string('mo_response');
  if (body === undefined) return undefined;
  const contentType = config.string('mo_response_content_type', 'text/plain; charset=utf-8');
  return () => new Response(body, { status: 200, headers: { 'content-type': contentType } });
}

const UNIX_SECONDS = /^[0-9]{1,11}(?:\.[0-9]+)?$/;
const ISO_8601 =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)?\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$/i;

/**
 * A provider's timestamp: unix seconds, or an ISO 8601 / RFC 3339 date and time (UTC when it has
 * no offset). Null when it is neither, or names a day or time that does not exist.
 *
 * @example parseMoDate('2024-03-01T10:15:00+02:00') // 2024-03-01T08:15:00.000Z
 * @example parseMoDate('1709288100') // 2024-03-01T10:15:00.000Z
 */
export function parseMoDate(value: string): Date | null {
  if (UNIX_SECONDS.test(value)) return new Date(Math.round(Number(value) * 1000));
  const match = ISO_8601.exec(value) ?? ISO_8601.exec(withPlusRestored(value));
  if (!match) return null;
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((n) => (n === undefined ? undefined : Number(n)));
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const utc = new Date(Date.UTC(year!, month! - 1, day!, hour, minute, second, millis));
  const exists =
    utc.getUTCFullYear() === year &&
    utc.getUTCMonth() === month! - 1 &&
    utc.getUTCDate() === day &&
    utc.getUTCHours() === hour &&
    utc.getUTCMinutes() === minute &&
    utc.getUTCSeconds() === second;
  const offset = offsetMinutes(match[8]);
  if (!exists || offset === null) return null;
  return new Date(utc.getTime() - offset * 60_000);
}

/**
 * A query string that was not URL-encoded turns the `+` of an offset into a space
 * (`10:15:00+02:00` arrives as `10:15:00 02:00`): put it back.
 */
function withPlusRestored(value: string): string {
  return value.replace(/([T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?) ([0-9]{2}(?::?[0-9]{2})?)$/i, '$1+$2');
}

/** `Z`, `+02`, `+0200` or `-02:00` as minutes east of UTC; null when out of range. */
function offsetMinutes(zone: string | undefined): number | null {
  if (!zone || zone.toUpperCase() === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 23 || minutes > 59) return null;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

// ── sending ──────────────────────────────────────────────────────────────────────────────────

type SendMethod = 'GET' | 'POST' | 'PUT';
const SEND_METHODS: readonly SendMethod[] = ['GET', 'POST', 'PUT'];

/** How a value or the list of quick replies is written where it lands. */
interface Encoding {
  value(text: string): string;
  list(items: string[]): string;
}

/** URL query and form bodies: each quick reply becomes its own `&quick_reply=` field. */
const URL_ENCODING: Encoding = {
  value: encodeURIComponent,
  list: (items) => items.map((item) => `&quick_reply=${encodeURIComponent(item)}`).join(''),
};

/** JSON: a value becomes a whole literal, quotes included, so templates read `{"text": {{text}}}`. */
const JSON_ENCODING: Encoding = {
  value: (text) => JSON.stringify(text),
  list: (items) => JSON.stringify(items),
};

const XML_ENCODING: Encoding = {
  value: escapeXml,
  list: (items) => items.map((item) => `<item><value>${escapeXml(item)}</value></item>`).join(''),
};

interface BodyFormat {
  contentType: string;
  encoding: Encoding;
  defaultBody: string;
}

const BODY_FORMATS: ReadonlyMap<string, BodyFormat> = new Map(Object.entries({
  urlencoded: {
    contentType: 'application/x-www-form-urlencoded',
    encoding: URL_ENCODING,
    defaultBody:
      'id={{id}}&text={{text}}&to={{to}}&to_no_plus={{to_no_plus}}&from={{from}}&from_no_plus={{from_no_plus}}&channel={{channel}}',
  },
  json: {
    contentType: 'application/json',
    encoding: JSON_ENCODING,
    defaultBody:
      '{"id":{{id}},"text":{{text}},"to":{{to}},"to_no_plus":{{to_no_plus}},"from":{{from}},"from_no_plus":{{from_no_plus}},"channel":{{channel}}}',
  },
  xml: {
    contentType: 'application/xml; charset=utf-8',
    encoding: XML_ENCODING,
    defaultBody:
      '<message><id>{{id}}</id><text>{{text}}</text><to>{{to}}</to><to_no_plus>{{to_no_plus}}</to_no_plus><from>{{from}}</from><from_no_plus>{{from_no_plus}}</from_no_plus><channel>{{channel}}</channel></message>',
  },
}));

/** What the channel config says about how to call the provider. */
interface SendSettings {
  url: string;
  method: SendMethod;
  format: BodyFormat;
  body: string;
  headers: Record<string, string>;
  /** Text a successful response must contain. */
  responseCheck: string | undefined;
}

function sendSettingsOf(channel: Channel): SendSettings {
  const { config } = channel;
  const url = config.requireString('send_url');
  const method = config.string('send_method', 'POST').toUpperCase() as SendMethod;
  if (!SEND_METHODS.includes(method)) {
    throw new ChannelConfigError(`channel config "send_method" must be one of ${SEND_METHODS.join(', ')}, not "${method}"`);
  }
  const contentType = config.string('content_type', 'urlencoded');
  const format = BODY_FORMATS.get(contentType);
  if (!format) {
    throw new ChannelConfigError(
      `channel config "content_type" must be one of ${[...BODY_FORMATS.keys()].join(', ')}, not "${contentType}"`,
    );
  }
  const authorization = config.string('send_authorization');
  // Header names are case-insensitive: a configured `Content-Type` replaces the format's own.
  const extraHeaders = Object.entries(config.stringMap('headers')).map(([name, value]) => [name.toLowerCase(), value]);
  const headers = {
    ...(method === 'GET' ? {} : { 'content-type': format.contentType }),
    ...(authorization ? { authorization } : {}),
    ...Object.fromEntries(extraHeaders),
  };
  return { url, method, format, body: config.string('body', format.defaultBody), headers, responseCheck: config.string('mt_response_check') };
}

/**
 * Sends each part as its own request; attachments travel as their URLs on lines after the text.
 * The provider returns no id Herald knows how to read, so the message is `wired`.
 */
async function send(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const settings = sendSettingsOf(ctx.channel);
  const parts = withAttachmentUrls(ctx.parts, msg.attachments, maxLengthOf(ctx.channel));
  if (parts.length === 0) throw new MessageInvalid('message has neither text nor attachments');

  for (const part of parts) {
    const vars = templateVariables(msg, ctx.channel, part);
    const { url, authorization } = credentialsAsBasicAuth(fillTemplate(settings.url, vars, URL_ENCODING));
    const res = await ctx.http.request(url, {
      method: settings.method,
      headers: { ...(authorization ? { authorization } : {}), ...settings.headers },
      ...(settings.method === 'GET' ? {} : { body: fillTemplate(settings.body, vars, settings.format.encoding) }),
    });
    failOnHttpStatus(res);
    if (settings.responseCheck !== undefined && !res.text.includes(settings.responseCheck)) {
      throw new ResponseContent(`response does not contain "${settings.responseCheck}" (channel config "mt_response_check")`);
    }
  }
  return { externalIds: [] };
}

type TemplateVariables = Record<'text' | 'to' | 'to_no_plus' | 'from' | 'from_no_plus' | 'id' | 'channel', string> & {
  quick_replies: string[];
};

function templateVariables(msg: MsgOut, channel: Channel, text: string): TemplateVariables {
  const to = urnPath(msg.urn);
  return {
    text,
    to,
    to_no_plus: to.replace(/^\+/, ''),
    from: channel.address,
    from_no_plus: channel.address.replace(/^\+/, ''),
    id: msg.uuid,
    channel: channel.uuid,
    quick_replies: msg.quickReplies,
  };
}

/** Replaces each known `{{variable}}`; others (a provider's own placeholders) are left as they are. */
function fillTemplate(template: string, vars: TemplateVariables, encoding: Encoding): string {
  return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (placeholder, name: string) => {
    if (name === 'quick_replies') return encoding.list(vars.quick_replies);
    return Object.hasOwn(vars, name) ? encoding.value(vars[name as keyof Omit<TemplateVariables, 'quick_replies'>]) : placeholder;
  });
}

/**
 * Credentials in a URL (`https://user:pass@host/…`) are taken out and sent as HTTP Basic
 * authorization instead, as curl or a browser would. A configured
 * `send_authorization` or `Authorization` header still wins over them.
 */
function credentialsAsBasicAuth(url: string): { url: string; authorization?: string } {
  const credentials = urlCredentials(url);
  if (!credentials) return { url };
  const bare = new URL(url);
  bare.username = '';
  bare.password = '';
  const basic = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
  return { url: bare.toString(), authorization: `Basic ${basic}` };
}

/** The decoded user name and password of `https://user:pass@host/…`, if the URL has any. */
function urlCredentials(url: string): { username: string; password: string } | undefined {
  if (!URL.canParse(url)) return undefined;
  const { username, password } = new URL(url);
  if (username === '' && password === '') return undefined;
  return { username: percentDecoded(username), password: percentDecoded(password) };
}

/** A URL part as written, when its `%` escapes do not decode (`%zz`). */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function maxLengthOf(channel: Channel): number {
  const maxLength = channel.config.int('max_length', 160);
  if (maxLength < 1) throw new ChannelConfigError(`channel config "max_length" must be at least 1, not ${maxLength}`);
  return maxLength;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

// ── secrets ──────────────────────────────────────────────────────────────────────────────────

/** Config keys (at any depth, such as a header name) whose values are credentials. */
const SECRET_KEY = /password|secret|token|auth|api[-_]?key/i;

/**
 * `send_authorization`, every config value under a key that names a credential (including extra
 * `headers` such as `Authorization` or `X-Api-Key`), and credentials inside `send_url`: the
 * password of `https://user:pass@host/…` and query values such as `?password=…`.
 */
function secretsOf(channel: Channel): string[] {
  const secrets: string[] = [];
  collectSecrets(channel.config.toJSON(), false, secrets);
  const sendUrl = channel.config.string('send_url');
  if (sendUrl && URL.canParse(sendUrl)) {
    const password = urlCredentials(sendUrl)?.password;
    if (password) secrets.push(password);
    for (const [key, value] of new URL(sendUrl).searchParams) if (SECRET_KEY.test(key)) secrets.push(value);
  }
  return [...new Set(secrets)].filter((s) => s !== '' && !s.includes('{{'));
}

function collectSecrets(value: unknown, isSecret: boolean, out: string[]): void {
  if (typeof value === 'string') {
    if (isSecret) out.push(value);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) collectSecrets(inner, isSecret || SECRET_KEY.test(key), out);
  }
}
