import { dumpHttp, type ChannelLogger } from './channel-log.js';
import { ChannelConfigError, ConnectionFailed, ResponseStatus, Throttled, parseRetryAfter } from './send-error.js';

/** A provider's answer, with its body already read so it can be logged and parsed. */
export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json<T = unknown>(): T | undefined;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /** Defaults to the client's timeout (30 s). */
  timeoutMs?: number;
}

const MAX_LOGGED_BODY = 64 * 1024;

/**
 * The only way a handler calls a provider: fetch, with every exchange (method, URL, status,
 * request, response, elapsed time, error) recorded in the channel log with secrets scrubbed.
 * A network failure or timeout throws ConnectionFailed; any HTTP status is returned as is.
 *
 * @example
 * const res = await ctx.http.request('https://api.telegram.org/bot123/sendMessage', {
 *   method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload),
 * });
 */
export class HttpClient {
  constructor(
    private readonly log: ChannelLogger,
    private readonly timeoutMs = 30_000,
  ) {}

  async request(url: string, init: HttpRequest = {}): Promise<HttpResult> {
    const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
    // A URL or header that cannot be sent comes from the channel's settings: not worth retrying.
    if (!URL.canParse(url)) throw new ChannelConfigError(`provider URL is not valid: ${this.log.redact(url)}`);
    let headers: Headers;
    try {
      headers = new Headers(init.headers);
    } catch (err) {
      throw new ChannelConfigError(`provider request header is not valid: ${this.log.redact((err as Error).message)}`);
    }
    let body: string | undefined;
    if (init.body instanceof URLSearchParams) {
      body = init.body.toString();
      if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
    } else {
      body = init.body;
    }
    const started = performance.now();
    const createdOn = new Date();
    const requestDump = dumpHttp(`${method} ${url}`, headers, truncate(body ?? ''));
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(init.timeoutMs ?? this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      const elapsedMs = Math.round(performance.now() - started);
      const reason = this.log.redact(describeFetchError(err));
      this.log.http({ method, url, statusCode: 0, request: requestDump, response: '', elapsedMs, createdOn });
      this.log.error('connection_failed', reason);
      throw new ConnectionFailed(`${method} ${this.log.redact(url)} failed: ${reason}`);
    }
    const elapsedMs = Math.round(performance.now() - started);
    this.log.http({
      method,
      url,
      statusCode: response.status,
      request: requestDump,
      response: dumpHttp(`HTTP ${response.status} ${response.statusText}`, response.headers, truncate(text)),
      elapsedMs,
      createdOn,
    });
    let parsed: unknown;
    let parsedOnce = false;
    return {
      status: response.status,
      headers: response.headers,
      text,
      json<T>() {
        if (!parsedOnce) {
          parsedOnce = true;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
        }
        return parsed as T | undefined;
      },
    };
  }
}

/**
 * The usual meaning of an HTTP status from a provider: 429 → Throttled (with Retry-After),
 * 5xx → ConnectionFailed (retried), any other non-2xx → ResponseStatus (failed).
 * Handlers check their provider's own error codes first and call this for the rest.
 */
export function failOnHttpStatus(res: HttpResult): void {
  if (res.status >= 200 && res.status < 300) return;
  if (res.status === 429) {
    throw new Throttled('provider answered HTTP 429', parseRetryAfter(res.headers.get('retry-after')));
  }
  if (res.status >= 500) throw new ConnectionFailed(`provider answered HTTP ${res.status}`);
  throw new ResponseStatus(res.status);
}

function truncate(text: string): string {
  return text.length > MAX_LOGGED_BODY ? `${text.slice(0, MAX_LOGGED_BODY)}…(truncated)` : text;
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}
