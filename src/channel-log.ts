import { newUuid } from './uuid.js';
import type { Channel } from './channel.js';
import { storableText } from './msg.js';

export type ChannelLogType =
  | 'msg_receive'
  | 'msg_status'
  | 'event_receive'
  | 'msg_send'
  | 'webhook_verify'
  | 'request_rejected';

/** One HTTP exchange with a provider, in either direction. */
export interface HttpLog {
  method: string;
  url: string;
  /** 0 when no response came back (timeout, connection refused). */
  statusCode: number;
  request: string;
  response: string;
  elapsedMs: number;
  createdOn: Date;
}

export interface ChannelLogError {
  code: string;
  message: string;
}

/** Everything that happened in one provider interaction, secrets already scrubbed. */
export interface ChannelLog {
  uuid: string;
  type: ChannelLogType;
  channelUuid: string;
  msgUuid?: string;
  httpLogs: HttpLog[];
  errors: ChannelLogError[];
  isError: boolean;
  elapsedMs: number;
  createdOn: Date;
}

export const REDACTED = '**********';

/**
 * Builds the scrubber for a handler's secret values. Each value is also scrubbed in its URL- and
 * form-encoded spellings, and `Authorization` header values are always scrubbed, since Basic and
 * Bearer credentials are encodings of secrets.
 *
 * @example makeRedactor(['s3cret'])('token=s3cret') // 'token=**********'
 */
export function makeRedactor(secrets: readonly string[]): Redactor {
  const spellings = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    spellings.add(secret);
    spellings.add(encodeURIComponent(secret));
    spellings.add(new URLSearchParams({ v: secret }).toString().slice(2));
    spellings.add(JSON.stringify(secret).slice(1, -1));
  }
  const ordered = [...spellings].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text.replace(/^(authorization:\s*)(.+)$/gim, `$1${REDACTED}`);
    for (const s of ordered) out = out.split(s).join(REDACTED);
    return out;
  };
}

export type Redactor = (text: string) => string;

const channelRedactors = new WeakMap<Channel, Redactor>();

/**
 * The scrubber for a channel's secrets, made once per channel object rather than on every
 * request: a channel's config never changes in place (an edit loads a new Channel).
 *
 * @example log.redactWith(channelRedactor(channel, (c) => handler.redact(c)));
 */
export function channelRedactor(channel: Channel, secretsOf: (channel: Channel) => readonly string[]): Redactor {
  let redactor = channelRedactors.get(channel);
  if (!redactor) {
    redactor = makeRedactor(secretsOf(channel));
    channelRedactors.set(channel, redactor);
  }
  return redactor;
}

/**
 * Collects the HTTP exchanges and errors of one interaction, scrubbing secrets as they are
 * recorded so nothing unredacted is ever held, then produces the finished ChannelLog.
 */
export class ChannelLogger {
  readonly uuid = newUuid();
  private readonly started = performance.now();
  private readonly createdOn = new Date();
  private readonly httpLogs: HttpLog[] = [];
  private readonly errors: ChannelLogError[] = [];
  private redactor: (text: string) => string;
  msgUuid: string | undefined;

  constructor(
    public type: ChannelLogType,
    readonly channelUuid: string,
    secrets: readonly string[],
  ) {
    this.redactor = makeRedactor(secrets);
  }

  /** Scrubs this interaction's secrets (and any NUL, which cannot be stored) from `text`. */
  redact(text: string): string {
    return storableText(this.redactor(text));
  }

  /** Adds secrets learnt after the logger was made (a channel's, once its config has been read). */
  redactWith(secrets: readonly string[] | Redactor): void {
    const before = this.redactor;
    const more = typeof secrets === 'function' ? secrets : makeRedactor(secrets);
    this.redactor = (text) => more(before(text));
  }

  http(log: HttpLog): void {
    this.httpLogs.push({
      ...log,
      url: this.redact(log.url),
      request: this.redact(log.request),
      response: this.redact(log.response),
    });
  }

  error(code: string, message: string): void {
    this.errors.push({ code, message: this.redact(message) });
  }

  finish(): ChannelLog {
    return {
      uuid: this.uuid,
      type: this.type,
      channelUuid: this.channelUuid,
      ...(this.msgUuid ? { msgUuid: this.msgUuid } : {}),
      httpLogs: [...this.httpLogs],
      errors: [...this.errors],
      isError: this.errors.length > 0,
      elapsedMs: Math.round(performance.now() - this.started),
      createdOn: this.createdOn,
    };
  }
}

/** Renders a request or response as text for a log: start line, headers, blank line, body. */
export function dumpHttp(startLine: string, headers: Headers, body: string): string {
  const lines = [startLine];
  headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
