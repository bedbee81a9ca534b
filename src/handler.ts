import type { Channel } from './channel.js';
import type { ChannelLogger } from './channel-log.js';
import type { ChannelEventType } from './event.js';
import type { HttpClient } from './http-client.js';
import type { Attachment, MsgOut, MsgStatus } from './msg.js';
import type { Urn, UrnScheme } from './urn.js';

/**
 * A channel type: data that describes the provider plus the functions that turn its requests
 * into messages and messages into its requests. Handlers never touch storage: `handle` returns
 * what happened and the server commits it; `send` returns external ids or throws a SendError
 * and the Sender records the outcome.
 */
export interface ChannelHandler {
  /** Short code used in callback URLs: `/c/{type}/{uuid}/{action}`. */
  type: string;
  name: string;
  schemes: readonly UrnScheme[];
  /** Longest text part the provider takes, in characters; text is split before `send`. */
  maxLength: number | ((channel: Channel) => number);
  /** The channel's secret values, scrubbed from every log. */
  redact(channel: Channel): string[];
  /**
   * Throws ChannelConfigError naming the first setting that cannot work, so a channel is refused
   * when it is configured rather than on its first callback or send.
   */
  checkConfig(channel: Channel): void;
  routes: readonly HandlerRoute[];
  send(msg: MsgOut, ctx: SendContext): Promise<SendResult>;
}

export type HttpMethod = 'GET' | 'POST';

export interface HandlerRoute {
  method: HttpMethod;
  action: string;
  handle(ctx: ReceiveContext): Promise<HandleResult> | HandleResult;
}

/** One provider request, read and ready: the body is already in memory (at most 1 MiB). */
export interface ReceiveContext {
  channel: Channel;
  request: Request;
  url: URL;
  rawBody: string;
  /** Form fields for a form-encoded POST, else the query string: how most SMS providers call. */
  params(): URLSearchParams;
  /** The body parsed as JSON; throws a 400 RequestError naming the problem when it is not. */
  json(): unknown;
  /** For calls the handler must make while receiving (Telegram's getFile). */
  http: HttpClient;
  log: ChannelLogger;
  /** `HERALD_BASE_URL`. */
  baseUrl: string;
  /** The URL the provider called, as it sees it: `HERALD_BASE_URL` + path + query (Twilio signs it). */
  publicUrl: string;
}

/** A message as a handler reads it from a request; the server gives it a uuid and stores it. */
export interface IncomingMsg {
  urn: Urn;
  text: string;
  attachments?: Attachment[];
  externalId?: string;
  contactName?: string;
  receivedOn?: Date;
}

export interface IncomingStatus {
  msgUuid?: string;
  externalId?: string;
  status: MsgStatus;
  reason?: string;
}

export interface IncomingEvent {
  type: ChannelEventType;
  urn: Urn;
  contactName?: string;
  extra?: Record<string, string>;
  receivedOn?: Date;
}

/** The items the server answered about, with the uuids the store gave them. */
export interface CommittedItem {
  type: 'msg' | 'status' | 'event';
  msgUuid?: string;
}

export type HandleResult =
  | {
      kind: 'accepted';
      msgs: IncomingMsg[];
      statuses: IncomingStatus[];
      events: IncomingEvent[];
      /** Replaces the JSON envelope, e.g. Twilio's empty TwiML. */
      respond?: (committed: CommittedItem[]) => Response;
    }
  | { kind: 'ignored'; reason: string; respond?: () => Response }
  /** Answer exactly this, write nothing: verification challenges such as Twitter's CRC. */
  | { kind: 'reply'; response: Response };

/** @example return accepted({ msgs: [{ urn, text }] }) */
export function accepted(
  items: { msgs?: IncomingMsg[]; statuses?: IncomingStatus[]; events?: IncomingEvent[] },
  respond?: (committed: CommittedItem[]) => Response,
): HandleResult {
  return {
    kind: 'accepted',
    msgs: items.msgs ?? [],
    statuses: items.statuses ?? [],
    events: items.events ?? [],
    ...(respond ? { respond } : {}),
  };
}

/** @example return ignored('no message in update') */
export function ignored(reason: string, respond?: () => Response): HandleResult {
  return respond ? { kind: 'ignored', reason, respond } : { kind: 'ignored', reason };
}

/**
 * A provider request that cannot be accepted. `status` 400 for a malformed or incomplete
 * request (the message names the field), 403 for a failed signature or secret.
 *
 * @example throw new RequestError(400, 'missing field "From"')
 */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly status: 400 | 403,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A valid provider request that cannot be handled yet because something it needs is unavailable
 * for now, such as a provider API the handler calls while receiving (Telegram's getFile answering
 * 5xx). Answered 503 with nothing written, so the provider delivers the request again later; the
 * server's deduplication makes a redelivery safe. `code` goes into the channel log.
 *
 * @example throw new RetryLater('media_unavailable', 'getFile answered HTTP 502')
 */
export class RetryLater extends Error {
  override readonly name = 'RetryLater';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SendContext {
  channel: Channel;
  /** The text split to the handler's `maxLength`; never empty when there is text. */
  parts: string[];
  http: HttpClient;
  log: ChannelLogger;
  /** Builds this channel's callback URL for an action, from `HERALD_BASE_URL`. */
  callbackUrl(action: string): string;
}

export interface SendResult {
  /** One id per part the provider accepted, in order (may be empty if it returns none). */
  externalIds: string[];
  /** `wired` (handed over, default) or `sent` when the provider confirms acceptance. */
  status?: 'wired' | 'sent';
}

export function handlerMaxLength(handler: ChannelHandler, channel: Channel): number {
  return typeof handler.maxLength === 'function' ? handler.maxLength(channel) : handler.maxLength;
}
