import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';
import { withAttachmentUrls } from '../src/attachment-urls.js';
import {
  RequestError,
  accepted,
  type ChannelHandler,
  type HandleResult,
  type IncomingStatus,
  type ReceiveContext,
  type SendContext,
  type SendResult,
} from '../src/handler.js';
import type { Channel } from '../src/channel.js';
import { isGsm7, toGsm7Lookalikes } from '../src/gsm7.js';
import { failOnHttpStatus } from '../src/http-client.js';
import type { MsgOut } from '../src/msg.js';
import { parseWith, phoneUrn, requireMsgUuid, requireParam } from '../src/request-fields.js';
import { ChannelConfigError, FailedWithReason, MessageInvalid } from '../src/send-error.js';
import { urnPath, type Urn } from '../src/urn.js';

/** Kannel splits a long text into concatenated SMS itself (sendsms-user `max-messages`). */
const MAX_LENGTH = 1600;

/**
 * Kannel, the open-source SMS gateway (https://www.kannel.org/doc.shtml, user guide chapters
 * "SMS-service configurations", "Using the HTTP interface to send SMS messages" and
 * "Delivery reports").
 *
 * - `GET,POST receive`: an `sms-service` whose `get-url` (or `post-url`) calls Herald with the
 *   usual query fields: `sender=%p&message=%b&ts=%T&id=%I&to=%P` (`from` and `text`
 *   are accepted as aliases of `sender` and `message`). A form-encoded POST may carry them in its body.
 * - `GET,POST status`: the `dlr-url` Herald hands Kannel with every message,
 *   `…/status?id=<message uuid>&status=%d`; Kannel replaces `%d` with the delivery report type.
 * - Sending: `GET {send_url}?username=…&password=…&from=…&to=…&text=…&dlr-url=…&dlr-mask=…`, once
 *   per text part. Kannel answers 202 `0: Accepted for delivery` (or `3: Queued for later
 *   delivery`) and gives no id: its delivery reports find the message by the uuid in `dlr-url`.
 *   Kannel carries only text, so attachment URLs are sent on lines after it; quick replies are
 *   not sent.
 *
 * Config: `send_url` (the smsbox sendsms URL, e.g. `http://kannel:13013/cgi-bin/sendsms`),
 * `username`, `password` (secret), `encoding` (`smart`, the default: GSM-7 when the text is or
 * can become GSM-7 with look-alike characters, else UCS-2; `unicode`: always UCS-2; `default`: as
 * Kannel decides), `use_national` (send the national number, `0788383383`, instead of E.164),
 * `dlr_mask` (default 31, every report type). `verify_ssl` is accepted and ignored: TLS
 * certificates are always verified.
 */
export const kannelHandler: ChannelHandler = {
  type: 'kn',
  name: 'Kannel',
  schemes: ['tel'],
  maxLength: MAX_LENGTH,
  redact: (channel) => [channel.config.string('password') ?? ''].filter((s) => s !== ''),
  checkConfig: (channel) => {
    sendsmsUrl(channel);
    channel.config.requireString('username');
    channel.config.requireString('password');
    channel.config.int('dlr_mask', DEFAULT_DLR_MASK);
    channel.config.bool('use_national', false);
    encodingOf(channel);
  },
  routes: [
    { method: 'GET', action: 'receive', handle: receiveMessage },
    { method: 'POST', action: 'receive', handle: receiveMessage },
    { method: 'GET', action: 'status', handle: receiveStatus },
    { method: 'POST', action: 'status', handle: receiveStatus },
  ],
  send: sendMessage,
};

/** Every delivery report type: delivered, not delivered, queued on SMSC, submitted, rejected. */
const DEFAULT_DLR_MASK = 31;

/** Kannel's delivery report types (the `%d` of a dlr-url) and what each means for a message. */
const DLR_TYPES: ReadonlyMap<string, Omit<IncomingStatus, 'msgUuid'>> = new Map<string, Omit<IncomingStatus, 'msgUuid'>>([
  ['1', { status: 'delivered' }],
  ['2', { status: 'failed', reason: 'not delivered to the phone' }],
  ['4', { status: 'wired' }],
  ['8', { status: 'sent' }],
  ['16', { status: 'failed', reason: 'rejected by the SMSC' }],
]);

/** Kannel's `%T`: when the message was received, in seconds since the epoch. */
const unixSeconds = z
  .string()
  .regex(/^[0-9]{1,12}$/, 'expected a unix time in seconds')
  .transform((ts) => new Date(Number(ts) * 1000));

function receiveMessage(ctx: ReceiveContext): HandleResult {
  const params = ctx.params();
  const senderField = params.has('sender') || !params.has('from') ? 'sender' : 'from';
  const urn = phoneUrn(senderField, requireParam(params, senderField), ctx.channel.country);
  const text = params.get('message') ?? params.get('text') ?? '';
  const externalId = params.get('id') || undefined;
  const ts = params.get('ts');
  const receivedOn = ts ? parseWith(z.object({ ts: unixSeconds }), { ts }).ts : undefined;
  return accepted({ msgs: [{ urn, text, ...(externalId ? { externalId } : {}), ...(receivedOn ? { receivedOn } : {}) }] });
}

function receiveStatus(ctx: ReceiveContext): HandleResult {
  const params = ctx.params();
  const msgUuid = requireMsgUuid('id', requireParam(params, 'id'));
  const type = requireParam(params, 'status');
  const report = DLR_TYPES.get(type);
  if (!report) {
    throw new RequestError(400, `"status" must be a Kannel delivery report type (${[...DLR_TYPES.keys()].join(', ')}), got "${type}"`);
  }
  return accepted({ statuses: [{ msgUuid, ...report }] });
}

type Encoding = 'smart' | 'default' | 'unicode';
const ENCODINGS: readonly Encoding[] = ['smart', 'default', 'unicode'];
/** Kannel's sendsms `coding=2` is UCS-2; `charset` says what the `text` we pass is in. */
const UCS2 = { coding: '2', charset: 'utf8' } as const;

async function sendMessage(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const { channel } = ctx;
  const sendUrl = sendsmsUrl(channel);
  const encoding = encodingOf(channel);
  const parts = withAttachmentUrls(ctx.parts, msg.attachments, MAX_LENGTH);
  if (parts.length === 0) throw new MessageInvalid('message has no text and no attachments');

  const common = {
    username: channel.config.requireString('username'),
    password: channel.config.requireString('password'),
    // Without `from`, Kannel sends from its configured global or forced sender.
    ...(channel.address ? { from: channel.address } : {}),
    to: recipient(msg.urn, channel),
    // Kannel decodes the query, then replaces %d with the report type before calling it.
    'dlr-url': `${ctx.callbackUrl('status')}?id=${msg.uuid}&status=%d`,
    'dlr-mask': String(channel.config.int('dlr_mask', DEFAULT_DLR_MASK)),
  };
  for (const part of parts) {
    const url = new URL(sendUrl);
    for (const [name, value] of Object.entries({ ...common, ...encoded(part, encoding) })) {
      url.searchParams.append(name, value);
    }
    const res = await ctx.http.request(url.toString(), { method: 'GET' });
    if (res.status === 403) throw new FailedWithReason('forbidden', res.text.trim() || 'Kannel refused the username or password');
    failOnHttpStatus(res);
  }
  return { externalIds: [] };
}

function sendsmsUrl(channel: Channel): URL {
  const raw = channel.config.requireString('send_url');
  try {
    return new URL(raw);
  } catch {
    throw new ChannelConfigError(`channel config "send_url" must be a URL, got "${raw}"`);
  }
}

function encodingOf(channel: Channel): Encoding {
  const value = channel.config.string('encoding', 'smart');
  if (!(ENCODINGS as readonly string[]).includes(value)) {
    throw new ChannelConfigError(`channel config "encoding" must be one of ${ENCODINGS.join(', ')}, got "${value}"`);
  }
  return value as Encoding;
}

/** The `text` (and `coding`/`charset`) fields for one part in the channel's encoding. */
function encoded(text: string, encoding: Encoding): Record<string, string> {
  switch (encoding) {
    case 'default':
      return { text };
    case 'unicode':
      return { text, ...UCS2 };
    case 'smart': {
      const gsm7 = toGsm7Lookalikes(text);
      return isGsm7(gsm7) ? { text: gsm7 } : { text, ...UCS2 };
    }
  }
}

/**
 * The number as the SMSC expects it: E.164, or with `use_national` the national number's digits
 * (`0788383383`) when it belongs to the channel's country. Short codes and sender ids go as they are.
 */
function recipient(urn: Urn, channel: Channel): string {
  const path = urnPath(urn);
  if (!channel.config.bool('use_national', false) || !channel.country) return path;
  const number = parsePhoneNumberFromString(path);
  if (!number?.isValid() || number.country !== channel.country.toUpperCase()) return path;
  return number.formatNational().replace(/[^0-9]/g, '');
}
