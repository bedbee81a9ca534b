import { createHmac } from 'node:crypto';
import { z } from 'zod';
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
import { failOnHttpStatus, type HttpResult } from '../src/http-client.js';
import { parseAttachment, type Attachment, type MsgOut, type MsgStatus } from '../src/msg.js';
import { phoneUrn, requireMsgUuid, requireParam } from '../src/request-fields.js';
import {
  ChannelConfigError,
  ContactStopped,
  FailedWithReason,
  MessageInvalid,
  ResponseContent,
  Throttled,
  parseRetryAfter,
} from '../src/send-error.js';
import { safeEqual } from '../src/signature.js';
import { urnPath } from '../src/urn.js';

/**
 * Twilio Programmable SMS (https://www.twilio.com/docs/messaging).
 *
 * - `POST receive`: the incoming-message webhook, form fields `MessageSid`, `From`, `To`, `Body`,
 *   `NumMedia`, `MediaUrl{N}`, `MediaContentType{N}`. Answered with empty TwiML.
 * - `POST status`: the `StatusCallback` Herald gives Twilio with each message, carrying the
 *   message's uuid as `?id=`; form fields `MessageSid` and `MessageStatus` (`SmsSid`/`SmsStatus`
 *   on older accounts) and `ErrorCode` for failures. Error 21610 means the recipient (`To`)
 *   replied STOP: the message fails and the contact is stopped.
 * - Both are signed with `X-Twilio-Signature` (see `twilioSignature`), checked unless config
 *   `validate_signature` is false.
 * - Sending: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` once per text part,
 *   the attachments (`MediaUrl`) on the first.
 *
 * Config: `account_sid`, `auth_token` (secret), `messaging_service_sid` (send through a Messaging
 * Service instead of the channel's number), `base_url` (default `https://api.twilio.com`),
 * `validate_signature` (default true).
 */
export const twilioHandler: ChannelHandler = {
  type: 't',
  name: 'Twilio',
  schemes: ['tel'],
  maxLength: 1600,
  redact: (channel) => [channel.config.string('auth_token') ?? ''].filter((s) => s !== ''),
  checkConfig: ({ config }) => {
    config.requireString('account_sid');
    config.requireString('auth_token');
    config.bool('validate_signature', true);
    config.string('messaging_service_sid');
    config.baseUrl('base_url', DEFAULT_BASE_URL);
  },
  routes: [
    { method: 'POST', action: 'receive', handle: receiveMessage },
    { method: 'POST', action: 'status', handle: receiveStatus },
  ],
  send: sendMessage,
};

const DEFAULT_BASE_URL = 'https://api.twilio.com';
/** Twilio takes at most 10 media per message, and delivers at most 10. */
const MAX_MEDIA = 10;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/** Twilio error codes that mean something other than "this message failed". */
const UNSUBSCRIBED_RECIPIENT = '21610';
const TOO_MANY_REQUESTS = '20429';

/**
 * Twilio's message status words and what they mean for an outgoing message; `null` for the
 * statuses of incoming messages, which a status callback has no business reporting.
 */
const STATUS_WORDS: ReadonlyMap<string, MsgStatus | null> = new Map<string, MsgStatus | null>([
  ['accepted', 'wired'],
  ['scheduled', 'wired'],
  ['queued', 'wired'],
  ['sending', 'wired'],
  ['sent', 'sent'],
  ['partially_delivered', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'read'],
  ['undelivered', 'failed'],
  ['failed', 'failed'],
  ['canceled', 'failed'],
  ['receiving', null],
  ['received', null],
]);

function receiveMessage(ctx: ReceiveContext): HandleResult {
  verifySignature(ctx);
  const params = ctx.params();
  const urn = phoneUrn('From', requireParam(params, 'From'), ctx.channel.country);
  const externalId = requireParam(params, 'MessageSid');
  // An MMS may come with no text at all.
  const text = params.get('Body') ?? '';
  const attachments = mediaAttachments(params);
  return accepted(
    { msgs: [{ urn, text, externalId, ...(attachments.length > 0 ? { attachments } : {}) }] },
    emptyTwiml,
  );
}

function receiveStatus(ctx: ReceiveContext): HandleResult {
  verifySignature(ctx);
  const params = ctx.params();
  const word = params.get('MessageStatus') ?? params.get('SmsStatus');
  if (!word) throw new RequestError(400, 'missing required field "MessageStatus"');
  const status = STATUS_WORDS.get(word);
  if (status === undefined) {
    throw new RequestError(400, `"MessageStatus" is "${word}", not one of ${[...STATUS_WORDS.keys()].join(', ')}`);
  }
  if (status === null) return ignored(`"${word}" is the status of an incoming message`);

  const errorCode = status === 'failed' ? params.get('ErrorCode') || undefined : undefined;
  const reason = status === 'failed' ? errorCode ?? word : undefined;
  const msgUuid = ctx.url.searchParams.get('id');
  const found = msgUuid !== null ? { msgUuid: requireMsgUuid('id', msgUuid) } : { externalId: messageSidOf(params) };
  const statuses = [{ ...found, status, ...(reason ? { reason } : {}) }];
  if (errorCode !== UNSUBSCRIBED_RECIPIENT) return accepted({ statuses });
  const recipient = phoneUrn('To', requireParam(params, 'To'), ctx.channel.country);
  return accepted({ statuses, events: [{ type: 'stop_contact', urn: recipient }] });
}

/** The message's sid, under its current name or the one older accounts use. */
function messageSidOf(params: URLSearchParams): string {
  const sid = params.get('MessageSid') || params.get('SmsSid');
  if (!sid) throw new RequestError(400, 'missing required field "MessageSid"');
  return sid;
}

/** `MediaContentType{N}:MediaUrl{N}` for each of the `NumMedia` media. */
function mediaAttachments(params: URLSearchParams): Attachment[] {
  const raw = params.get('NumMedia') ?? '0';
  if (!/^[0-9]{1,2}$/.test(raw) || Number(raw) > MAX_MEDIA) {
    throw new RequestError(400, `"NumMedia" must be a whole number from 0 to ${MAX_MEDIA}, got "${raw}"`);
  }
  return Array.from({ length: Number(raw) }, (_, n) => {
    const url = requireParam(params, `MediaUrl${n}`);
    return `${requireParam(params, `MediaContentType${n}`)}:${url}`;
  });
}

function emptyTwiml(): Response {
  return new Response(EMPTY_TWIML, { status: 200, headers: { 'content-type': 'text/xml' } });
}

function verifySignature(ctx: ReceiveContext): void {
  const config = ctx.channel.config;
  if (!config.bool('validate_signature', true)) return;
  const given = ctx.request.headers.get('x-twilio-signature');
  if (!given) throw new RequestError(403, 'missing X-Twilio-Signature header');
  const expected = twilioSignature(config.requireString('auth_token'), ctx.publicUrl, postedParams(ctx));
  if (!safeEqual(given, expected)) throw new RequestError(403, 'X-Twilio-Signature does not match the request');
}

/** The form fields of the body, the only parameters Twilio signs besides the URL's own query. */
function postedParams(ctx: ReceiveContext): [string, string][] {
  const contentType = ctx.request.headers.get('content-type') ?? '';
  if (contentType !== '' && !contentType.includes('application/x-www-form-urlencoded')) return [];
  return [...new URLSearchParams(ctx.rawBody)];
}

/**
 * Twilio's request signature: the full URL Twilio called, followed by each POST parameter's name
 * and value sorted by name, signed with HMAC-SHA1 keyed by the account's auth token, in base64.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 *
 * @example
 * twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', Object.entries({
 *   CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212',
 * })) // '0/KCTR6DLpKmkAf8muzZqo1nDgQ='
 */
export function twilioSignature(authToken: string, url: string, params: Iterable<readonly [string, string]>): string {
  const sorted = [...params].sort(([aName, aValue], [bName, bValue]) => compare(aName, bName) || compare(aValue, bValue));
  const signed = sorted.reduce((text, [name, value]) => text + name + value, url);
  return createHmac('sha1', authToken).update(signed, 'utf8').digest('base64');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function sendMessage(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const { channel } = ctx;
  const accountSid = channel.config.requireString('account_sid');
  const authToken = channel.config.requireString('auth_token');
  const serviceSid = channel.config.string('messaging_service_sid');
  if (!serviceSid && !channel.address) {
    throw new ChannelConfigError('Twilio channels need an address or config "messaging_service_sid" to send from');
  }
  const media = msg.attachments.map((a) => parseAttachment(a).url);
  if (media.length > MAX_MEDIA) throw new MessageInvalid(`Twilio takes at most ${MAX_MEDIA} attachments, got ${media.length}`);
  if (ctx.parts.length === 0 && media.length === 0) throw new MessageInvalid('message has no text and no attachments');

  const baseUrl = channel.config.baseUrl('base_url', DEFAULT_BASE_URL);
  const url = `${baseUrl}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
    accept: 'application/json',
  };
  // A message with media and no text is one request without a Body.
  const bodies: (string | undefined)[] = ctx.parts.length > 0 ? ctx.parts : [undefined];
  const externalIds: string[] = [];
  for (const [i, text] of bodies.entries()) {
    const form = new URLSearchParams({ To: urnPath(msg.urn) });
    if (serviceSid) form.set('MessagingServiceSid', serviceSid);
    else form.set('From', channel.address);
    if (text !== undefined) form.set('Body', text);
    form.set('StatusCallback', `${ctx.callbackUrl('status')}?id=${msg.uuid}`);
    if (i === 0) for (const mediaUrl of media) form.append('MediaUrl', mediaUrl);
    const res = await ctx.http.request(url, { method: 'POST', headers, body: form });
    externalIds.push(messageSid(res));
  }
  return { externalIds };
}

/** What Twilio answers to a create-message request: the message, or an error with its code. */
const twilioReply = z.object({
  sid: z.string().optional(),
  code: z.union([z.number(), z.string()]).optional(),
  message: z.string().optional(),
});

/** The new message's sid, or the SendError that Twilio's answer means. */
function messageSid(res: HttpResult): string {
  const parsed = twilioReply.safeParse(res.json());
  const reply = parsed.success ? parsed.data : {};
  const code = reply.code === undefined ? undefined : String(reply.code);
  if (res.status < 200 || res.status >= 300) {
    const description = reply.message ?? `HTTP ${res.status}`;
    if (code === UNSUBSCRIBED_RECIPIENT) throw new ContactStopped(`Twilio error ${code}: ${description}`);
    if (res.status === 429 || code === TOO_MANY_REQUESTS) {
      throw new Throttled(`Twilio error ${code ?? res.status}: ${description}`, parseRetryAfter(res.headers.get('retry-after')));
    }
    if (res.status < 500 && code !== undefined) throw new FailedWithReason(code, description);
    failOnHttpStatus(res);
  }
  if (!reply.sid) throw new ResponseContent(`Twilio answered HTTP ${res.status} without a message "sid"`);
  return reply.sid;
}
