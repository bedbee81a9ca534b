import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { withAttachmentUrls } from '../src/attachment-urls.js';
import type { Channel } from '../src/channel.js';
import {
  RequestError,
  accepted,
  ignored,
  type ChannelHandler,
  type HandleResult,
  type IncomingMsg,
  type ReceiveContext,
  type SendContext,
  type SendResult,
} from '../src/handler.js';
import { failOnHttpStatus, type HttpResult } from '../src/http-client.js';
import type { Attachment, MsgOut } from '../src/msg.js';
import { fieldUrn, parseJsonBody, requireParam } from '../src/request-fields.js';
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
import { newTwitterIdUrn, parseUrn } from '../src/urn.js';
import { newNonce, oauthAuthorization, type OAuthCredentials } from './twitter-oauth.js';

const DEFAULT_BASE_URL = 'https://api.twitter.com';
const SIGNATURE_HEADER = 'x-twitter-webhooks-signature';
const SECRET_KEYS = ['api_key', 'api_secret', 'access_token', 'access_token_secret'] as const;
/** The longest direct message X takes. */
const MAX_TEXT_LENGTH = 10_000;
/** X shows at most 20 quick reply options, each label at most 36 characters. */
const MAX_QUICK_REPLIES = 20;
const MAX_LABEL_LENGTH = 36;

/**
 * Twitter / X direct messages through the Account Activity API.
 *
 * - `GET receive?crc_token=…`: the challenge-response check X makes when the webhook is
 *   registered and then about hourly; answered `{"response_token": "sha256=<base64 HMAC-SHA256
 *   of crc_token keyed by api_secret>"}`, nothing stored.
 * - `POST receive`: account activity as JSON, signed in `x-twitter-webhooks-signature`
 *   (`sha256=` and the base64 HMAC-SHA256 of the raw body keyed by `api_secret`). Each
 *   `message_create` in `direct_message_events` is one message; the `users` map gives the
 *   sender's screen name and name. DMs the account sent itself come back too and are skipped.
 * - Sending: `POST {base_url}/1.1/direct_messages/events/new.json` with a `message_create` event,
 *   once per text part, signed with OAuth 1.0a (`twitter-oauth.ts`). Attachment URLs follow the
 *   text, and quick replies ride on the last part as options.
 *
 * Config: `api_key`, `api_secret`, `access_token`, `access_token_secret` (all secret),
 * `handle_id` (the account's numeric user id, optional), `base_url` (default https://api.twitter.com).
 */
export const twitterHandler: ChannelHandler = {
  type: 'twt',
  name: 'Twitter',
  schemes: ['twitterid'],
  maxLength: MAX_TEXT_LENGTH,
  redact: ({ config }) => SECRET_KEYS.map((key) => config.string(key) ?? '').filter((s) => s !== ''),
  checkConfig: (channel) => {
    credentials(channel);
    handleId(channel);
    channel.config.baseUrl('base_url', DEFAULT_BASE_URL);
  },
  routes: [
    { method: 'GET', action: 'receive', handle: answerCrc },
    { method: 'POST', action: 'receive', handle: receiveActivity },
  ],
  send: sendMessage,
};

function answerCrc(ctx: ReceiveContext): HandleResult {
  const token = requireParam(ctx.params(), 'crc_token');
  const secret = ctx.channel.config.requireString('api_secret');
  const body = JSON.stringify({ response_token: `sha256=${hmacSha256(secret, token)}` });
  return { kind: 'reply', response: new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }) };
}

// ---- Incoming: the parts of an account activity payload Herald reads ----

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

const mediaSchema = z.object({
  type: z.string().optional(),
  media_url_https: httpUrl,
  /** The t.co link X appends to the text for the media. */
  url: z.string().optional(),
  video_info: z
    .object({
      variants: z.array(z.object({ content_type: z.string(), url: httpUrl, bitrate: z.number().optional() })),
    })
    .optional(),
});

const messageCreateSchema = z.object({
  sender_id: z.string().min(1),
  message_data: z.object({
    text: z.string(),
    attachment: z.object({ type: z.string(), media: mediaSchema.optional() }).optional(),
  }),
});

/** Fields only a `message_create` event must have; other event types are skipped unread. */
const REQUIRED_IN_MESSAGE = ['id', 'created_timestamp', 'message_create'] as const;

const dmEventSchema = z
  .object({
    type: z.string(),
    id: z.string().min(1).optional(),
    created_timestamp: z.string().regex(/^[0-9]{1,15}$/, 'expected epoch milliseconds as a string').optional(),
    message_create: messageCreateSchema.optional(),
  })
  .superRefine((event, ctx) => {
    if (event.type !== 'message_create') return;
    for (const key of REQUIRED_IN_MESSAGE) {
      if (event[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'required in a message_create event' });
    }
  });

const userSchema = z.object({ name: z.string().optional(), screen_name: z.string().optional() });

const activitySchema = z.object({
  for_user_id: z.string().optional(),
  direct_message_events: z.array(dmEventSchema).optional(),
  /** The users the events name, by id. */
  users: z.record(z.string(), userSchema).optional(),
});

type DmEvent = z.output<typeof dmEventSchema>;
type MessageEvent = DmEvent & { [K in (typeof REQUIRED_IN_MESSAGE)[number]]-?: NonNullable<DmEvent[K]> };
type Media = z.output<typeof mediaSchema>;
type XUser = z.output<typeof userSchema>;

async function receiveActivity(ctx: ReceiveContext): Promise<HandleResult> {
  verifySignature(ctx);
  const activity = parseJsonBody(ctx, activitySchema);
  const events = activity.direct_message_events;
  if (!events) {
    const kinds = Object.keys(ctx.json() as object).filter((key) => key !== 'for_user_id');
    return ignored(`no direct_message_events in request${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}`);
  }

  // Both the configured handle and the subscribed account are the channel itself: what they
  // send comes back as an event, and is not a message to the channel.
  const ownIds = new Set([handleId(ctx.channel), activity.for_user_id].filter(isSet));
  const msgs: IncomingMsg[] = [];
  let own = 0;
  let other = 0;
  events.forEach((event, index) => {
    if (!isMessageEvent(event)) other++;
    else if (ownIds.has(event.message_create.sender_id)) own++;
    else msgs.push(incomingMsg(event, index, activity.users ?? {}));
  });
  if (msgs.length === 0) {
    return ignored(`no incoming direct message in request (${own} sent by the channel, ${other} other events)`);
  }
  return accepted({ msgs });
}

function verifySignature(ctx: ReceiveContext): void {
  const given = ctx.request.headers.get(SIGNATURE_HEADER);
  if (!given) throw new RequestError(403, `missing header "${SIGNATURE_HEADER}"`);
  const expected = `sha256=${hmacSha256(ctx.channel.config.requireString('api_secret'), ctx.rawBody)}`;
  if (!safeEqual(given, expected)) throw new RequestError(403, `header "${SIGNATURE_HEADER}" does not match the body signed with api_secret`);
}

function isMessageEvent(event: DmEvent): event is MessageEvent {
  return event.type === 'message_create';
}

function incomingMsg(event: MessageEvent, index: number, users: Record<string, XUser>): IncomingMsg {
  const { sender_id: senderId, message_data: data } = event.message_create;
  const sender = Object.hasOwn(users, senderId) ? users[senderId] : undefined;
  const urn = fieldUrn(`direct_message_events.${index}.message_create.sender_id`, () => newTwitterIdUrn(senderId, sender?.screen_name));
  const media = data.attachment?.media;
  return {
    urn,
    text: messageText(data.text, media),
    attachments: media ? [mediaAttachment(media)] : [],
    externalId: event.id,
    receivedOn: new Date(Number(event.created_timestamp)),
    ...(sender?.name ? { contactName: sender.name } : {}),
  };
}

const HTML_ENTITIES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };

/**
 * The text as the person wrote it: X escapes `&`, `<` and `>` as HTML entities (decoded in one
 * pass, so `&amp;lt;` stays `&lt;`), and appends the media's t.co link, which is dropped because
 * the media is an attachment.
 */
function messageText(text: string, media: Media | undefined): string {
  const withoutLink = media?.url ? text.replace(media.url, '').trim() : text;
  return withoutLink.replace(/&(?:amp|lt|gt);/g, (entity) => HTML_ENTITIES[entity]!);
}

const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
  ['png', 'image/png'],
  ['gif', 'image/gif'],
  ['webp', 'image/webp'],
  ['mp4', 'video/mp4'],
]);

/**
 * A photo is `media_url_https`, typed by its extension. For a video or GIF that URL is only a
 * still, so the best MP4 of `video_info` is taken when X gives one.
 */
function mediaAttachment(media: Media): Attachment {
  if (media.type === 'video' || media.type === 'animated_gif') {
    const mp4 = (media.video_info?.variants ?? [])
      .filter((v) => v.content_type === 'video/mp4')
      .sort((a, b) => (b.bitrate ?? 0) - (a.bitrate ?? 0))[0];
    if (mp4) return `video/mp4:${mp4.url}`;
  }
  const extension = /\.([a-z0-9]+)$/i.exec(new URL(media.media_url_https).pathname)?.[1]?.toLowerCase();
  const family = media.type === 'photo' || media.type === undefined ? 'image' : 'video';
  return `${(extension && CONTENT_TYPES.get(extension)) ?? family}:${media.media_url_https}`;
}

// ---- Sending ----

async function sendMessage(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const recipientId = twitterUserId(msg);
  const auth = credentials(ctx.channel);
  const url = `${ctx.channel.config.baseUrl('base_url', DEFAULT_BASE_URL)}/1.1/direct_messages/events/new.json`;
  const texts = withAttachmentUrls(ctx.parts, msg.attachments, MAX_TEXT_LENGTH);
  if (texts.length === 0) throw new MessageInvalid('message has no text and no attachments');
  const quickReply = quickReplyOptions(msg.quickReplies);

  const externalIds: string[] = [];
  for (const [i, text] of texts.entries()) {
    const last = i === texts.length - 1;
    const messageData = { text, ...(last && quickReply ? { quick_reply: quickReply } : {}) };
    const event = { type: 'message_create', message_create: { target: { recipient_id: recipientId }, message_data: messageData } };
    const authorization = oauthAuthorization({ method: 'POST', url }, auth, { nonce: newNonce(), timestamp: Math.floor(Date.now() / 1000) });
    const res = await ctx.http.request(url, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ event }),
    });
    externalIds.push(sentEventId(res));
  }
  return { externalIds, status: 'sent' };
}

function twitterUserId(msg: MsgOut): string {
  const { scheme, path } = parseUrn(msg.urn);
  if (scheme !== 'twitterid') throw new MessageInvalid(`Twitter cannot send to a ${scheme}: URN`);
  return path;
}

function credentials(channel: Channel): OAuthCredentials {
  const { config } = channel;
  return {
    consumerKey: config.requireString('api_key'),
    consumerSecret: config.requireString('api_secret'),
    token: config.requireString('access_token'),
    tokenSecret: config.requireString('access_token_secret'),
  };
}

function handleId(channel: Channel): string | undefined {
  const id = channel.config.string('handle_id');
  if (id !== undefined && !/^[0-9]{1,20}$/.test(id)) throw new ChannelConfigError(`channel config "handle_id" must be a numeric user id, not "${id}"`);
  return id;
}

/** Quick replies as X's options; more than it shows would be dropped silently, so they are refused. */
function quickReplyOptions(quickReplies: string[]): { type: 'options'; options: { label: string }[] } | undefined {
  if (quickReplies.length === 0) return undefined;
  if (quickReplies.length > MAX_QUICK_REPLIES) {
    throw new MessageInvalid(`Twitter shows at most ${MAX_QUICK_REPLIES} quick replies, got ${quickReplies.length}`);
  }
  return { type: 'options', options: quickReplies.map((label) => ({ label: cutLabel(label) })) };
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * A label cut to X's 36 characters, counted as code points, at the end of a whole character: an
 * emoji, a flag or an accented letter is kept whole or left out, never split.
 *
 * @example cutLabel('🇷🇼'.repeat(19)) // 18 flags: 36 code points
 */
export function cutLabel(label: string): string {
  let cut = '';
  let length = 0;
  for (const { segment } of graphemes.segment(label)) {
    const size = [...segment].length;
    if (length + size > MAX_LABEL_LENGTH) {
      // A single "character" longer than the limit (a long emoji sequence) is cut at code points.
      return length === 0 ? [...segment].slice(0, MAX_LABEL_LENGTH).join('') : cut;
    }
    cut += segment;
    length += size;
  }
  return cut;
}

const sentSchema = z.object({ event: z.object({ id: z.string().min(1) }) });
const errorsSchema = z.object({ errors: z.array(z.object({ code: z.number().int(), message: z.string().optional() })).min(1) });

/** X's error code for too many requests, whatever HTTP status comes with it. */
const RATE_LIMITED = 88;
/**
 * X's codes for a person who cannot be messaged. 349 ("You cannot send messages to this user")
 * is the person blocking the account or closing their DMs to it: like Telegram's "bot was blocked
 * by the user", the person has said no, so the contact is stopped. 150 ("not following you") is
 * the person never having opened their DMs to the account: like Telegram's "bot can't initiate
 * conversation", it fails the message but stops no one, since writing to the channel first
 * makes replies possible.
 */
const BLOCKED_BY_RECIPIENT = 349;

/** The id of the DM event X created, or the SendError its answer means. */
function sentEventId(res: HttpResult): string {
  if (res.status < 200 || res.status >= 300) {
    const parsed = errorsSchema.safeParse(res.json());
    const error = parsed.success ? parsed.data.errors[0]! : undefined;
    const description = error?.message ?? `HTTP ${res.status}`;
    if (res.status === 429 || error?.code === RATE_LIMITED) {
      throw new Throttled(`Twitter ${error ? `error ${error.code}` : 'answered HTTP 429'}: ${description}`, retryAfterMs(res.headers));
    }
    if (error?.code === BLOCKED_BY_RECIPIENT) throw new ContactStopped(`Twitter error ${error.code}: ${description}`);
    if (res.status < 500 && error) throw new FailedWithReason(String(error.code), description);
    failOnHttpStatus(res);
  }
  const sent = sentSchema.safeParse(res.json());
  if (!sent.success) throw new ResponseContent(`Twitter answered HTTP ${res.status} without an "event.id"`);
  return sent.data.event.id;
}

/** How long until X's rate limit window resets (`x-rate-limit-reset`, epoch seconds), else `Retry-After`. */
function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const reset = Number(headers.get('x-rate-limit-reset') ?? Number.NaN);
  if (Number.isFinite(reset) && reset * 1000 > now) return reset * 1000 - now;
  return parseRetryAfter(headers.get('retry-after'), now);
}

function hmacSha256(key: string, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('base64');
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
