import { signWebhook } from '../../src/webhook-signature.js';
import type { OutboxType } from './outbox.js';

/** An outbox event as the webhook body shows it (CONTRACT §3 "Events"). */
export interface WebhookEvent {
  /** The event's feed number (`seq`), as a string: the same id the events feed pages by. */
  id: string;
  type: OutboxType;
  createdOn: Date;
  data: unknown;
}

export interface WebhookTarget {
  url: string;
  /** Null or empty: the request goes unsigned (see webhook-dispatcher.ts). */
  secret: string | null;
}

export interface PostOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  /** The signature's `t`. */
  now: Date;
}

/** Why an attempt did not count as delivered; `message` is what `last_error` records. */
export interface WebhookFailure {
  code: 'http_status' | 'timeout' | 'unreachable' | 'invalid_url';
  message: string;
}

/** How much of a refusing endpoint's answer `last_error` keeps. */
const ERROR_BODY_CHARS = 200;

/**
 * POSTs one event to a webhook and answers null when it was acknowledged (any 2xx), or why not.
 * Redirects are not followed: a 3xx is a failure like any other non-2xx, so an event never
 * lands somewhere its org did not configure. The timeout covers the whole exchange, the body of
 * a refusal included.
 *
 * @example
 * const failure = await postWebhook({ url, secret }, event, { fetch, timeoutMs: 10_000, now: new Date() });
 * // null, or e.g. { code: 'http_status', message: 'HTTP 500: upstream crashed' }
 */
export async function postWebhook(target: WebhookTarget, event: WebhookEvent, opts: PostOptions): Promise<WebhookFailure | null> {
  if (!isHttpUrl(target.url)) return { code: 'invalid_url', message: 'webhook URL is not a valid http(s) URL' };
  const body = JSON.stringify({ id: event.id, type: event.type, created_on: event.createdOn.toISOString(), data: event.data });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.secret) headers['x-herald-signature'] = signWebhook(target.secret, body, Math.floor(opts.now.getTime() / 1000));
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  try {
    const response = await opts.fetch(target.url, { method: 'POST', headers, body, redirect: 'manual', signal: abort.signal });
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    const start = await bodyStart(response, ERROR_BODY_CHARS);
    return { code: 'http_status', message: start ? `HTTP ${response.status}: ${start}` : `HTTP ${response.status}` };
  } catch (err) {
    if (abort.signal.aborted) return { code: 'timeout', message: `timeout after ${opts.timeoutMs} ms` };
    return { code: 'unreachable', message: `network error: ${networkCause(err)}`.slice(0, ERROR_BODY_CHARS) };
  } finally {
    clearTimeout(timer);
  }
}

function isHttpUrl(url: string): boolean {
  return URL.canParse(url) && ['http:', 'https:'].includes(new URL(url).protocol);
}

/** The first `chars` characters of a body, whitespace folded; "" when it cannot be read. */
async function bodyStart(response: Response, chars: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    // Twice what is kept: folding whitespace may shorten it.
    while (text.length < chars * 2) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return '';
  } finally {
    reader.cancel().catch(() => {});
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, chars);
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS error…) is in its cause. */
function networkCause(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
