/**
 * What can go wrong when a handler sends a message. A handler throws one of these; the Sender
 * (not the handler) decides what status it means:
 *
 * | error              | status after            |
 * |--------------------|-------------------------|
 * | ChannelConfigError | failed                  |
 * | MessageInvalid     | failed                  |
 * | ConnectionFailed   | errored (retried)       |
 * | Throttled          | queued again, channel paused |
 * | ResponseStatus     | failed                  |
 * | ResponseContent    | errored (retried)       |
 * | ContactStopped     | failed, contact stopped |
 * | FailedWithReason   | failed                  |
 */
export type SendErrorCode =
  | 'channel_config'
  | 'message_invalid'
  | 'connection_failed'
  | 'throttled'
  | 'response_status'
  | 'response_content'
  | 'contact_stopped'
  | 'provider_error';

export abstract class SendError extends Error {
  abstract readonly code: SendErrorCode;
  /** Whether sending again later may succeed. */
  abstract readonly retryable: boolean;
}

/** The channel lacks a setting it needs, or has one that cannot work. */
export class ChannelConfigError extends SendError {
  readonly code = 'channel_config';
  readonly retryable = false;
  override readonly name = 'ChannelConfigError';
}

/** The message cannot be sent on this channel as it is (bad URN, unsupported attachment). */
export class MessageInvalid extends SendError {
  readonly code = 'message_invalid';
  readonly retryable = false;
  override readonly name = 'MessageInvalid';
}

/** The provider could not be reached, timed out, or answered 5xx. */
export class ConnectionFailed extends SendError {
  readonly code = 'connection_failed';
  readonly retryable = true;
  override readonly name = 'ConnectionFailed';
}

/** The provider asked us to slow down; `retryAfterMs` is how long, when it said. */
export class Throttled extends SendError {
  readonly code = 'throttled';
  readonly retryable = true;
  override readonly name = 'Throttled';
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** The provider answered with an HTTP status that means the message was refused. */
export class ResponseStatus extends SendError {
  readonly code = 'response_status';
  readonly retryable = false;
  override readonly name = 'ResponseStatus';
  constructor(readonly statusCode: number, message = `provider answered HTTP ${statusCode}`) {
    super(message);
  }
}

/** The provider answered, but not with what a successful send looks like. */
export class ResponseContent extends SendError {
  readonly code = 'response_content';
  readonly retryable = true;
  override readonly name = 'ResponseContent';
}

/** The person blocked the channel or unsubscribed: fail, and stop the contact. */
export class ContactStopped extends SendError {
  readonly code = 'contact_stopped';
  readonly retryable = false;
  override readonly name = 'ContactStopped';
}

/** The provider refused the message with its own error code (`21211`, `bad-number`, …). */
export class FailedWithReason extends SendError {
  readonly code = 'provider_error';
  readonly retryable = false;
  override readonly name = 'FailedWithReason';
  constructor(readonly reasonCode: string, readonly description: string) {
    super(`${reasonCode}: ${description}`);
  }
}

/** Parses an HTTP `Retry-After` header (seconds or a date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
