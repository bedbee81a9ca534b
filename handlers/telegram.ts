import { z } from 'zod';
import type { Channel } from '../src/channel.js';
import {
  RequestError,
  RetryLater,
  accepted,
  ignored,
  type ChannelHandler,
  type HandleResult,
  type IncomingMsg,
  type ReceiveContext,
  type SendContext,
  type SendResult,
} from '../src/handler.js';
import type { HttpResult } from '../src/http-client.js';
import { parseAttachment, type Attachment, type MsgOut } from '../src/msg.js';
import { fieldUrn, parseJsonBody } from '../src/request-fields.js';
import {
  ConnectionFailed,
  ContactStopped,
  FailedWithReason,
  MessageInvalid,
  ResponseContent,
  ResponseStatus,
  Throttled,
  parseRetryAfter,
} from '../src/send-error.js';
import { safeEqual } from '../src/signature.js';
import { newTelegramUrn, parseUrn, type Urn } from '../src/urn.js';

/**
 * Telegram Bot API (https://core.telegram.org/bots/api).
 *
 * Telegram POSTs each Update as JSON to the webhook set with `setWebhook`; when the webhook was
 * set with a `secret_token`, every call carries it in `X-Telegram-Bot-Api-Secret-Token`. Media
 * arrive as file ids, turned into download URLs with `getFile`. Messages go out with
 * `sendMessage` / `sendPhoto` / `sendVideo` / `sendAudio` / `sendDocument`, as JSON.
 *
 * Channel config: `auth_token` (the bot token, required), `secret_token` (optional),
 * `base_url` (default `https://api.telegram.org`).
 */

const DEFAULT_BASE_URL = 'https://api.telegram.org';
const SECRET_HEADER = 'X-Telegram-Bot-Api-Secret-Token';
const MAX_TEXT_LENGTH = 4096;
const MAX_CAPTION_LENGTH = 1024;

// ---- Incoming: the parts of an Update Herald reads ----

const userSchema = z.object({
  id: z.number().int(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
});

const chatSchema = z.object({
  id: z.number().int(),
  username: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
});

const fileSchema = z.object({ file_id: z.string().min(1), mime_type: z.string().optional() });
const photoSizeSchema = z.object({ file_id: z.string().min(1), width: z.number(), height: z.number() });
const stickerSchema = fileSchema.extend({ is_animated: z.boolean().optional(), is_video: z.boolean().optional() });
const locationSchema = z.object({ latitude: z.number(), longitude: z.number() });

const messageSchema = z.object({
  message_id: z.number().int(),
  from: userSchema.optional(),
  chat: chatSchema,
  date: z.number().int(),
  text: z.string().optional(),
  caption: z.string().optional(),
  photo: z.array(photoSizeSchema).optional(),
  video: fileSchema.optional(),
  video_note: fileSchema.optional(),
  voice: fileSchema.optional(),
  audio: fileSchema.optional(),
  document: fileSchema.optional(),
  sticker: stickerSchema.optional(),
  location: locationSchema.optional(),
  venue: z.object({ location: locationSchema, title: z.string(), address: z.string() }).optional(),
  contact: z.object({ phone_number: z.string() }).optional(),
});

const updateSchema = z.object({ update_id: z.number().int(), message: messageSchema.optional() });

type TelegramMessage = z.output<typeof messageSchema>;

/** The answer of `getFile`: a File whose `file_path` makes the download URL. */
const getFileResponseSchema = z.object({
  ok: z.boolean(),
  result: z.object({ file_path: z.string().min(1).optional() }).optional(),
  description: z.string().optional(),
});

// ---- Outgoing: what every Bot API method answers ----

const sendResponseSchema = z.object({
  ok: z.boolean(),
  result: z.object({ message_id: z.number().int() }).optional(),
  error_code: z.number().int().optional(),
  description: z.string().optional(),
  parameters: z.object({ retry_after: z.number().optional() }).optional(),
});

/** Descriptions of a 403 that mean the person can no longer be reached by this bot. */
const CONTACT_GONE = /bot was blocked by the user|user is deactivated|bot was kicked/i;

export const telegramHandler: ChannelHandler = {
  type: 'tg',
  name: 'Telegram',
  schemes: ['telegram'],
  maxLength: MAX_TEXT_LENGTH,
  redact: (channel) => [channel.config.string('auth_token'), channel.config.string('secret_token')].filter(isSet),
  checkConfig: (channel) => {
    botApi(channel);
    channel.config.string('secret_token');
  },
  routes: [{ method: 'POST', action: 'receive', handle: receiveUpdate }],
  send: sendMessage,
};

async function receiveUpdate(ctx: ReceiveContext): Promise<HandleResult> {
  checkSecretToken(ctx);
  const update = parseJsonBody(ctx, updateSchema);
  const message = update.message;
  if (!message) {
    const kinds = Object.keys(ctx.json() as object).filter((key) => key !== 'update_id');
    return ignored(`update ${update.update_id} has no message${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}`);
  }

  const urn = chatUrn(message);
  const contactName = senderName(message);
  const receivedOn = new Date(message.date * 1000);
  if (message.text !== undefined && isStartCommand(message.text)) {
    return accepted({ events: [{ type: 'new_conversation', urn, receivedOn, ...(contactName ? { contactName } : {}) }] });
  }

  const content = await messageContent(ctx, message);
  if (!content) return ignored(`message ${message.message_id} has no text or content Herald stores`);
  const msg: IncomingMsg = {
    urn,
    text: content.text,
    attachments: content.attachments,
    externalId: String(message.message_id),
    receivedOn,
    ...(contactName ? { contactName } : {}),
  };
  return accepted({ msgs: [msg] });
}

/** With a `secret_token` configured, the request must carry it; without one, nothing is checked. */
function checkSecretToken(ctx: ReceiveContext): void {
  const expected = ctx.channel.config.string('secret_token');
  if (expected === undefined) return;
  const given = ctx.request.headers.get(SECRET_HEADER);
  if (given === null) throw new RequestError(403, `missing header "${SECRET_HEADER}"`);
  if (!safeEqual(given, expected)) throw new RequestError(403, `header "${SECRET_HEADER}" does not match the channel's secret_token`);
}

/** The chat the message came from, which is where replies go: in a private chat, the person's own. */
function chatUrn(message: TelegramMessage): Urn {
  return fieldUrn('message.chat.id', () => newTelegramUrn(message.chat.id, message.chat.username));
}

function senderName(message: TelegramMessage): string | undefined {
  const person = message.from ?? message.chat;
  const name = [person.first_name, person.last_name].filter(isSet).join(' ').trim();
  return name === '' ? undefined : name;
}

/** `/start`, `/start@SomeBot` or `/start <deep-link payload>`: the person opened the chat. */
function isStartCommand(text: string): boolean {
  return /^\/start(@\w+)?(\s|$)/.test(text.trim());
}

/**
 * The text and attachments of a message, or undefined when it holds nothing Herald stores
 * (a poll, a dice roll, a member joining). See `fileAttachment` for a media file that cannot
 * be resolved.
 */
async function messageContent(
  ctx: ReceiveContext,
  message: TelegramMessage,
): Promise<{ text: string; attachments: Attachment[] } | undefined> {
  const attachments: Attachment[] = [];
  let text = message.text ?? message.caption ?? '';
  if (message.venue) {
    attachments.push(geoAttachment(message.venue.location));
    text = `${message.venue.title}, ${message.venue.address}`;
  } else if (message.location) {
    attachments.push(geoAttachment(message.location));
  }
  if (message.contact) text = message.contact.phone_number;

  const media = mediaFile(message);
  if (media) {
    const attachment = await fileAttachment(ctx, media);
    if (attachment) attachments.push(attachment);
  }
  if (!media && text === '' && attachments.length === 0) return undefined;
  return { text, attachments };
}

function geoAttachment(location: { latitude: number; longitude: number }): Attachment {
  return `geo:${location.latitude},${location.longitude}`;
}

interface MediaFile {
  kind: string;
  fileId: string;
  /** The attachment's content type: the file's own when Telegram gives it, else the usual one. */
  contentType: string;
}

function mediaFile(message: TelegramMessage): MediaFile | undefined {
  if (message.photo && message.photo.length > 0) {
    const largest = message.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    return { kind: 'photo', fileId: largest.file_id, contentType: 'image/jpeg' };
  }
  if (message.video) return fileOf('video', message.video, 'video/mp4');
  if (message.video_note) return fileOf('video_note', message.video_note, 'video/mp4');
  if (message.voice) return fileOf('voice', message.voice, 'audio/ogg');
  if (message.audio) return fileOf('audio', message.audio, 'audio/mpeg');
  if (message.document) return fileOf('document', message.document, 'application/octet-stream');
  if (message.sticker) {
    const { sticker } = message;
    const contentType = sticker.is_video ? 'video/webm' : sticker.is_animated ? 'application/x-tgsticker' : 'image/webp';
    return { kind: 'sticker', fileId: sticker.file_id, contentType };
  }
  return undefined;
}

function fileOf(kind: string, media: { file_id: string; mime_type?: string | undefined }, usualType: string): MediaFile {
  return { kind, fileId: media.file_id, contentType: media.mime_type ?? usualType };
}

/**
 * `getFile` → `file_path` → the download URL. When Telegram is unreachable or answers 5xx or
 * 429, the whole update is refused with RetryLater (503), so Telegram delivers it again later and
 * the attachment is not lost; the redelivery is stored once, by its message id. When Telegram
 * answers that it cannot give the file (another 4xx, such as a file too big for bots, or no
 * `file_path`), asking again would never succeed: the message is stored without it and the
 * reason logged.
 */
async function fileAttachment(ctx: ReceiveContext, media: MediaFile): Promise<Attachment | undefined> {
  const unresolved = (why: string) => {
    ctx.log.error('media_unresolved', `${media.kind} ${media.fileId} left out: ${why}`);
    return undefined;
  };
  // A misconfigured channel throws ChannelConfigError: the server answers 503, so Telegram keeps
  // the update until the operator fixes the channel, rather than the media being dropped.
  const api = botApi(ctx.channel);
  let res: HttpResult;
  try {
    res = await ctx.http.request(`${api.methodUrl('getFile')}?file_id=${encodeURIComponent(media.fileId)}`);
  } catch (err) {
    if (err instanceof ConnectionFailed) throw new RetryLater('media_unavailable', `getFile for ${media.kind} failed: ${err.message}`);
    throw err;
  }
  const body = getFileResponseSchema.safeParse(res.json());
  const description = body.success && body.data.description ? `: ${body.data.description}` : '';
  if (res.status === 429 || res.status >= 500) throw new RetryLater('media_unavailable', `getFile for ${media.kind} answered HTTP ${res.status}${description}`);
  if (res.status < 200 || res.status >= 300) return unresolved(`getFile answered HTTP ${res.status}${description}`);
  const filePath = body.success && body.data.ok ? body.data.result?.file_path : undefined;
  if (!filePath) return unresolved(`getFile answered without a file_path${description}`);
  return `${media.contentType}:${api.fileUrl(filePath)}`;
}

// ---- Sending ----

interface BotApi {
  methodUrl(method: string): string;
  fileUrl(filePath: string): string;
}

function botApi(channel: Channel): BotApi {
  const token = channel.config.requireString('auth_token');
  const base = channel.config.baseUrl('base_url', DEFAULT_BASE_URL);
  return {
    methodUrl: (method) => `${base}/bot${token}/${method}`,
    fileUrl: (filePath) => `${base}/file/bot${token}/${filePath}`,
  };
}

/** One Bot API call: the method and its JSON parameters (`chat_id` is added when sending). */
interface BotCall {
  method: 'sendMessage' | 'sendPhoto' | 'sendVideo' | 'sendAudio' | 'sendDocument';
  params: Record<string, unknown>;
}

async function sendMessage(msg: MsgOut, ctx: SendContext): Promise<SendResult> {
  const chatId = telegramChatId(msg.urn);
  const api = botApi(ctx.channel);
  const calls = plannedCalls(ctx.parts, msg.attachments, msg.quickReplies);
  if (calls.length === 0) throw new MessageInvalid('message has no text and no attachments');

  const externalIds: string[] = [];
  for (const call of calls) {
    const res = await ctx.http.request(api.methodUrl(call.method), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: chatId, ...call.params }),
    });
    externalIds.push(sentMessageId(res));
  }
  return { externalIds };
}

function telegramChatId(urn: Urn): string {
  const { scheme, path } = parseUrn(urn);
  if (scheme !== 'telegram') throw new MessageInvalid(`Telegram cannot send to a ${scheme}: URN`);
  return path;
}

/**
 * The Bot API calls that deliver a message, in order. Attachments go out with the method for
 * their type; the first carries the text as its caption when the text is one part that fits
 * Telegram's 1024-character caption, otherwise the text parts go first as messages of their
 * own. Quick replies ride on the last call as a reply keyboard, one button per row.
 *
 * @example plannedCalls(['Hi'], ['image/jpeg:https://x.example/a.jpg'], [])
 * // [{ method: 'sendPhoto', params: { photo: 'https://x.example/a.jpg', caption: 'Hi' } }]
 */
function plannedCalls(parts: string[], attachments: Attachment[], quickReplies: string[]): BotCall[] {
  const media = attachments.map(mediaCall);
  const [first] = media;
  const captioned = first !== undefined && parts.length === 1 && [...parts[0]!].length <= MAX_CAPTION_LENGTH;
  const calls: BotCall[] = captioned
    ? [{ ...first, params: { ...first.params, caption: parts[0] } }, ...media.slice(1)]
    : [...parts.map((text): BotCall => ({ method: 'sendMessage', params: { text } })), ...media];

  const last = calls.at(-1);
  if (last && quickReplies.length > 0) {
    last.params = {
      ...last.params,
      reply_markup: {
        keyboard: quickReplies.map((text) => [{ text }]),
        resize_keyboard: true,
        one_time_keyboard: true,
      },
    };
  }
  return calls;
}

function mediaCall(attachment: Attachment): BotCall {
  const { contentType, url } = parseAttachment(attachment);
  if (!/^https?:\/\//i.test(url)) throw new MessageInvalid(`Telegram cannot send attachment "${attachment}": not an http(s) URL`);
  switch (contentType.split('/')[0]) {
    case 'image':
      return { method: 'sendPhoto', params: { photo: url } };
    case 'video':
      return { method: 'sendVideo', params: { video: url } };
    case 'audio':
      return { method: 'sendAudio', params: { audio: url } };
    default:
      return { method: 'sendDocument', params: { document: url } };
  }
}

/** The id of the message Telegram created, or the SendError its answer means. */
function sentMessageId(res: HttpResult): string {
  const parsed = sendResponseSchema.safeParse(res.json());
  const body = parsed.success ? parsed.data : undefined;
  if (res.status >= 200 && res.status < 300) {
    if (body?.ok && body.result) return String(body.result.message_id);
    throw new ResponseContent(`Telegram answered without a message_id${body?.description ? `: ${body.description}` : ''}`);
  }
  if (res.status === 429) {
    const seconds = body?.parameters?.retry_after;
    const retryAfterMs = seconds !== undefined ? seconds * 1000 : parseRetryAfter(res.headers.get('retry-after'));
    throw new Throttled(body?.description ?? 'Telegram answered HTTP 429', retryAfterMs);
  }
  if (res.status >= 500) throw new ConnectionFailed(`Telegram answered HTTP ${res.status}`);
  if (!body) throw new ResponseStatus(res.status);
  const description = body.description ?? `HTTP ${res.status}`;
  if (res.status === 403 && CONTACT_GONE.test(description)) throw new ContactStopped(description);
  throw new FailedWithReason(reasonCode(body.error_code ?? res.status, description), description);
}

/**
 * A stable code from a Bot API error description, which reads `<HTTP phrase>: <what>`:
 * `Bad Request: chat not found` → `chat_not_found`; the error code when there is nothing to use.
 *
 * @example reasonCode(400, "Bad Request: can't parse entities: …") // 'cant_parse_entities'
 */
export function reasonCode(errorCode: number, description: string): string {
  const segments = description.split(':');
  const what = segments.length > 1 ? segments[1]! : segments[0]!;
  const code = what.toLowerCase().replace(/'/g, '').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return code === '' ? String(errorCode) : code;
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
