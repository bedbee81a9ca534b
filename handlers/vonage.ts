import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { withAttachmentUrls } from '../src/attachment-urls.js';
import type { Channel } from '../src/channel.js';
import {
  RequestError,
  accepted,
  ignored,
  type ChannelHandler,
  type HandleResult,
  type ReceiveContext,
  type SendContext,
  type SendResult,
} from '../src/handler.js';
import { isGsm7 } from '../src/gsm7.js';
import { failOnHttpStatus, type HttpResult } from '../src/http-client.js';
import type { MsgOut, MsgStatus } from '../src/msg.js';
import { fieldUrn, isUuid, parseWith, requireParam } from '../src/request-fields.js';
import {
  ChannelConfigError,
  ConnectionFailed,
  FailedWithReason,
  MessageInvalid,
  ResponseContent,
  Throttled,
  type SendError,
} from '../src/send-error.js';
import { safeEqual } from '../src/signature.js';
import { UrnError, newTelUrn, urnPath, type Urn } from '../src/urn.js';

/** Vonage takes up to 3200 characters and splits them itself; Herald keeps to Twilio's and Kannel's 1600. */
const MAX_LENGTH = 1600;

/**
 * Vonage (formerly Nexmo) SMS API (https://developer.vonage.com/en/messaging/sms/overview).
 *
 * - `GET,POST receive`: the inbound SMS webhook set in the Vonage dashboard, as a query string, a
 *   form or a JSON body: `msisdn` (the sender), `to` (the channel's number, not used), `text`,
 *   `type`, `messageId` (the external id), `message-timestamp` (UTC `YYYY-MM-DD HH:MM:SS`).
 *   - Concatenated SMS: a text too long for one SMS reaches Vonage in parts, and Vonage calls once
 *     per part with `concat=true`, `concat-ref`, `concat-total` and `concat-part`. Each part is
 *     stored as a message of its own, with its own `messageId`, in the order the parts arrive.
 *     Herald does not join them: a handler keeps no state between requests, and holding parts back
 *     until the last one came would lose the others whenever a carrier drops a part. So no text is
 *     ever dropped; the upstream app sees the parts as consecutive messages from the same sender.
 *   - `type=binary` messages carry data, not text, and are answered Ignored.
 * - `GET,POST status`: delivery receipts, sent to the `callback` URL Herald gives Vonage with each
 *   message: `status`, `err-code`, `messageId`, and `client-ref`, which Herald sets to the
 *   message's uuid. A receipt finds its message by that uuid, else by `messageId`.
 * - With config `signature_secret`, every callback must carry a valid `sig` over its other fields
 *   (see `vonageSignature`) and a `timestamp` within five minutes of now, else 403.
 * - Sending: `POST {base_url}/sms/json`, form-encoded, once per text part. Vonage splits a part
 *   into concatenated SMS itself and answers each SMS's `message-id` and `status`.
 *
 * Config: `api_key`, `api_secret` (secret), `signature_secret` (secret; signed webhooks),
 * `signature_method` (`md5hash`, the default, or HMAC with `md5`, `sha1`, `sha256`, `sha512`: as
 * set for the account in the dashboard), `base_url` (default https://rest.nexmo.com).
 */
export const vonageHandler: ChannelHandler = {
  type: 'nx',
  name: 'Vonage',
  schemes: ['tel'],
  maxLength: MAX_LENGTH,
  redact: ({ config }) => [config.string('api_secret') ?? '', config.string('signature_secret') ?? ''].filter((s) => s !== ''),
  checkConfig: (channel) => {
    channel.config.requireString('api_key');
    channel.config.requireString('api_secret');
    channel.config.string('signature_secret');
    signatureMethodOf(channel);
    channel.config.baseUrl('base_url', DEFAULT_BASE_URL);
  },
  routes: [
    { method: 'GET', action: 'receive', handle: receiveMessage },
    { method: 'POST', action: 'receive', handle: receiveMessage },
    { method: 'GET', action: 'status', handle: receiveStatus },
    { method: 'POST', action: 'status', handle: receiveStatus },
  ],
  send: sendMessage,
};

const DEFAULT_BASE_URL = 'https://rest.nexmo.com';
/** How far a signed callback's `timestamp` may be from now, either way. */
const MAX_SIGNATURE_AGE_MS = 5 * 60 * 1000;

// ── receiving ────────────────────────────────────────────────────────────────────────────────

function receiveMessage(ctx: ReceiveContext): HandleResult {
  const fields = callbackFields(ctx);
  verifySignature(ctx, fields);
  if (fields.get('type') === 'binary') return ignored('binary SMS carry no text');
  const urn = senderUrn(requireParam(fields, 'msisdn'), ctx.channel.country);
  const externalId = requireParam(fields, 'messageId');
  const text = fields.get('text') ?? '';
  const receivedOn = receivedTime(fields.get('message-timestamp'));
  return accepted({ msgs: [{ urn, text, externalId, ...(receivedOn ? { receivedOn } : {}) }] });
}

/** Vonage's delivery receipt statuses and what each means for a message; `null` for one that tells nothing. */
const RECEIPT_STATUSES: ReadonlyMap<string, MsgStatus | null> = new Map<string, MsgStatus | null>([
  ['accepted', 'sent'],
  ['buffered', 'sent'],
  ['delivered', 'delivered'],
  ['expired', 'failed'],
  ['failed', 'failed'],
  ['rejected', 'failed'],
  ['undelivered', 'failed'],
  ['unknown', null],
]);

function receiveStatus(ctx: ReceiveContext): HandleResult {
  const fields = callbackFields(ctx);
  verifySignature(ctx, fields);
  const word = requireParam(fields, 'status');
  const status = RECEIPT_STATUSES.get(word);
  if (status === undefined) {
    throw new RequestError(400, `"status" must be one of ${[...RECEIPT_STATUSES.keys()].join(', ')}, got "${word}"`);
  }
  if (status === null) return ignored('status "unknown": Vonage has no information on the message');

  const errCode = fields.get('err-code');
  const reason = status === 'failed' ? (errCode && errCode !== '0' ? errCode : word) : undefined;
  // `client-ref` is the uuid Herald sent; a reference set by other software on the account is not.
  const clientRef = fields.get('client-ref') ?? '';
  const found = isUuid(clientRef) ? { msgUuid: clientRef.toLowerCase() } : { externalId: requireParam(fields, 'messageId') };
  return accepted({ statuses: [{ ...found, status, ...(reason ? { reason } : {}) }] });
}

const jsonFields = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));

/** The callback's fields: the query string and form fields, or a JSON body's fields over the query. */
function callbackFields(ctx: ReceiveContext): URLSearchParams {
  const contentType = ctx.request.headers.get('content-type') ?? '';
  if (ctx.request.method !== 'POST' || !/[/+]json\b/i.test(contentType)) return ctx.params();
  const fields = new URLSearchParams(ctx.url.search);
  for (const [name, value] of Object.entries(parseWith(jsonFields, ctx.json()))) {
    if (value !== null) fields.set(name, String(value));
  }
  return fields;
}

/** Digits of an international number, as Vonage writes them (E.164 without the `+`). */
const INTERNATIONAL_DIGITS = /^[1-9][0-9]{7,14}$/;

/**
 * The sender as a `tel:` URN. Vonage sends international numbers without `+`, so those are read as
 * international first: read with the channel's country, some would pass for a national number.
 * Anything else (a national number, a short code, a sender id) is read with the channel's country.
 */
function senderUrn(msisdn: string, country: string | null): Urn {
  return fieldUrn('msisdn', () => {
    if (INTERNATIONAL_DIGITS.test(msisdn)) {
      try {
        return newTelUrn(`+${msisdn}`, null);
      } catch (err) {
        if (!(err instanceof UrnError)) throw err;
      }
    }
    return newTelUrn(msisdn, country, { allowSenderId: true });
  });
}

const VONAGE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$/;

/** `message-timestamp`, UTC `YYYY-MM-DD HH:MM:SS`; a 400 naming it when it is not a real time. */
function receivedTime(value: string | null): Date | undefined {
  if (!value) return undefined;
  const iso = `${value.replace(' ', 'T')}.000Z`;
  const time = VONAGE_TIME.test(value) ? new Date(iso) : undefined;
  // A time that does not exist (2024-02-30, 24:00:00) rolls over to another, which reads back differently.
  if (!time || Number.isNaN(time.getTime()) || time.toISOString() !== iso) {
    throw new RequestError(400, `invalid field "message-timestamp": "${value}" is not a UTC time "YYYY-MM-DD HH:MM:SS"`);
  }
  return time;
}

// ── signatures ───────────────────────────────────────────────────────────────────────────────

/** `md5hash` is Vonage's plain MD5 hash; the others are HMACs with that digest. */
export type SignatureMethod = 'md5hash' | 'md5' | 'sha1' | 'sha256' | 'sha512';
const SIGNATURE_METHODS: readonly SignatureMethod[] = ['md5hash', 'md5', 'sha1', 'sha256', 'sha512'];

function signatureMethodOf(channel: Channel): SignatureMethod {
  const method = channel.config.string('signature_method', 'md5hash');
  if (!(SIGNATURE_METHODS as readonly string[]).includes(method)) {
    throw new ChannelConfigError(`channel config "signature_method" must be one of ${SIGNATURE_METHODS.join(', ')}, got "${method}"`);
  }
  return method as SignatureMethod;
}

function verifySignature(ctx: ReceiveContext, fields: URLSearchParams): void {
  const secret = ctx.channel.config.string('signature_secret');
  if (secret === undefined) return;
  const method = signatureMethodOf(ctx.channel);
  const given = fields.get('sig');
  if (!given) throw new RequestError(403, 'missing signature field "sig"');
  // Hex digits: Vonage writes MD5 hashes in lower case and HMACs in upper case.
  if (!safeEqual(given.toLowerCase(), vonageSignature(fields, secret, method))) {
    throw new RequestError(403, '"sig" does not match the request');
  }
  const timestamp = fields.get('timestamp') ?? '';
  if (!/^[0-9]{1,12}$/.test(timestamp)) throw new RequestError(403, 'a signed request needs "timestamp" in unix seconds');
  if (Math.abs(Date.now() - Number(timestamp) * 1000) > MAX_SIGNATURE_AGE_MS) {
    throw new RequestError(403, `"timestamp" ${timestamp} is more than 5 minutes from now`);
  }
}

/**
 * Vonage's signature of a request's fields, in lower-case hex: every field but `sig`, sorted by
 * name, written `&name=value` with each `&` and `=` in a value replaced by `_`; then for `md5hash`
 * the MD5 of that text followed by the secret, for the others its HMAC keyed by the secret.
 * https://developer.vonage.com/en/getting-started/concepts/signing-messages
 *
 * @example vonageSignature([['b', '2'], ['a', 'x&y']], 'secret', 'md5hash')
 * // md5('&a=x_y&b=2secret') = '56f17ec6ca106cccd9ccc9f9b309e2d4'
 */
export function vonageSignature(fields: Iterable<readonly [string, string]>, secret: string, method: SignatureMethod): string {
  const signed = [...fields].filter(([name]) => name !== 'sig').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = signed.map(([name, value]) => `&${name}=${value.replace(/[&=]/g, '_')}`).join('');
  if (method === 'md5hash') return createHash('md5').update(text + secret, 'utf8').digest('hex');
  return createHmac(method, secret).update(text, 'utf8').digest('hex');
}

// ── sending ──────────────────────────────────────────────────────────────────────────────────

async function sendMessage(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const { channel } = ctx;
  const url = `${channel.config.baseUrl('base_url', DEFAULT_BASE_URL)}/sms/json`;
  const credentials = { api_key: channel.config.requireString('api_key'), api_secret: channel.config.requireString('api_secret') };
  if (!channel.address) throw new ChannelConfigError('Vonage channels need an address (a number or sender id) to send from');
  const parts = withAttachmentUrls(ctx.parts, msg.attachments, MAX_LENGTH);
  if (parts.length === 0) throw new MessageInvalid('message has no text and no attachments');

  const externalIds: string[] = [];
  for (const text of parts) {
    const form = new URLSearchParams({
      ...credentials,
      from: withoutPlus(channel.address),
      to: withoutPlus(urnPath(msg.urn)),
      text,
      ...(isGsm7(text) ? {} : { type: 'unicode' }),
      callback: ctx.callbackUrl('status'),
      'client-ref': msg.uuid,
      'status-report-req': '1',
    });
    const res = await ctx.http.request(url, { method: 'POST', body: form });
    externalIds.push(...messageIds(res));
  }
  return { externalIds, status: 'sent' };
}

function withoutPlus(number: string): string {
  return number.replace(/^\+/, '');
}

/** What the SMS API answers: one entry per SMS it made of the text, each with its own status. */
const smsReply = z.object({
  messages: z.array(
    z.object({
      'message-id': z.string().optional(),
      status: z.union([z.string(), z.number()]).transform(String),
      'error-text': z.string().optional(),
    }),
  ),
});

/** The id of each SMS Vonage made of a part, or the SendError its answer means. */
function messageIds(res: HttpResult): string[] {
  const parsed = smsReply.safeParse(res.json());
  const messages = parsed.success ? parsed.data.messages : [];
  const refused = messages.find((m) => m.status !== '0');
  if (refused) throw refusal(refused.status, refused['error-text'] ?? 'no error text');
  failOnHttpStatus(res);
  const ids = messages.flatMap((m) => (m['message-id'] ? [m['message-id']] : []));
  if (ids.length === 0 || ids.length < messages.length) {
    throw new ResponseContent(`Vonage answered HTTP ${res.status} without a "message-id" for each SMS`);
  }
  return ids;
}

/**
 * The SendError for a non-zero SMS API status (https://developer.vonage.com/en/api-errors/sms).
 * 4 (wrong key or secret) and 11 (account not enabled for HTTP) are the channel's settings; any
 * other code is Vonage refusing this message, kept as its reason: 8 (account suspended) and 9 (no
 * credit) too, since no channel setting fixes them and retrying within minutes would not either.
 */
function refusal(code: string, errorText: string): SendError {
  const description = `Vonage status ${code}: ${errorText}`;
  switch (code) {
    case '1': // Throttled
    case '10': // Too many existing binds: back off and retry
      return new Throttled(description);
    case '5': // Internal error
      return new ConnectionFailed(description);
    case '4': // Invalid credentials
    case '11': // Account not enabled for HTTP
      return new ChannelConfigError(description);
    default:
      return new FailedWithReason(code, errorText);
  }
}
