import { isDeepStrictEqual } from 'node:util';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** What the fake provider answers to one request. */
export interface ProviderReply {
  method?: string;
  /** The URL the request must go to; the query string is compared only when given here. */
  url: string;
  status?: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Drop the connection instead of answering. */
  networkError?: boolean;
}

/** What a request the handler made must contain; only the keys given are checked. */
export interface ExpectedRequest {
  /** The exact URL, query string included. */
  url?: string;
  /** Query parameters that must be present with these values. */
  query?: Record<string, string>;
  /** Headers that must be present with these values (names in any case). */
  headers?: Record<string, string>;
  /** The exact body. */
  body?: string;
  /** Form fields that must be present with these values (others allowed). */
  form?: Record<string, string>;
  /** The body parsed as JSON must equal this. */
  json?: unknown;
}

export interface Exchange {
  reply: ProviderReply;
  request?: ExpectedRequest;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

/**
 * A fake provider for a test file: every HTTP request the code makes is answered by the next
 * scripted reply, in order, and recorded. A request to another URL, or one more than scripted,
 * is answered with a 599 and reported as a mismatch, so a case cannot pass by accident.
 */
export class FakeProvider {
  readonly requests: RecordedRequest[] = [];
  readonly mismatches: string[] = [];
  private script: ProviderReply[] = [];
  private readonly server: ReturnType<typeof setupServer>;

  constructor() {
    this.server = setupServer(
      http.all('*', async ({ request }) => {
        const recorded: RecordedRequest = {
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: await request.text(),
        };
        const reply = this.script[this.requests.length];
        this.requests.push(recorded);
        if (!reply) {
          this.mismatches.push(`unexpected request ${request.method} ${request.url}`);
          return new HttpResponse('unexpected request', { status: 599 });
        }
        if (!urlMatches(reply.url, request.url) || (reply.method && reply.method !== request.method)) {
          this.mismatches.push(`expected ${reply.method ?? 'a request to'} ${reply.url}, got ${request.method} ${request.url}`);
          return new HttpResponse('unexpected request', { status: 599 });
        }
        if (reply.networkError) return HttpResponse.error();
        const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        const headers = { ...(typeof reply.body === 'object' ? { 'content-type': 'application/json' } : {}), ...reply.headers };
        return new HttpResponse(body, { status: reply.status ?? 200, headers });
      }),
    );
  }

  /** Starts intercepting for the current test file. */
  install(): this {
    beforeAll(() => this.server.listen({ onUnhandledRequest: 'error' }));
    afterEach(() => this.reset());
    afterAll(() => this.server.close());
    return this;
  }

  expect(replies: ProviderReply[]): void {
    this.reset();
    this.script = replies;
  }

  reset(): void {
    this.script = [];
    this.requests.length = 0;
    this.mismatches.length = 0;
  }
}

function urlMatches(expected: string, actual: string): boolean {
  if (expected.includes('?')) return expected === actual;
  return expected === actual.split('?')[0];
}

/** Lists how a recorded request differs from what was expected; empty when it matches. */
export function requestDifferences(expected: ExpectedRequest, actual: RecordedRequest): string[] {
  const problems: string[] = [];
  const url = new URL(actual.url);
  if (expected.url !== undefined && expected.url !== actual.url) problems.push(`url: expected ${expected.url}, got ${actual.url}`);
  for (const [key, value] of Object.entries(expected.query ?? {})) {
    if (url.searchParams.get(key) !== value) problems.push(`query ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(url.searchParams.get(key))}`);
  }
  for (const [key, value] of Object.entries(expected.headers ?? {})) {
    if (actual.headers.get(key) !== value) problems.push(`header ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(actual.headers.get(key))}`);
  }
  if (expected.body !== undefined && expected.body !== actual.body) problems.push(`body: expected ${JSON.stringify(expected.body)}, got ${JSON.stringify(actual.body)}`);
  if (expected.form) {
    const form = new URLSearchParams(actual.body);
    for (const [key, value] of Object.entries(expected.form)) {
      if (form.get(key) !== value) problems.push(`form ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(form.get(key))}`);
    }
  }
  if (expected.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(actual.body);
    } catch {
      problems.push(`json: body is not JSON: ${actual.body}`);
    }
    if (parsed !== undefined && !isDeepStrictEqual(parsed, expected.json)) {
      problems.push(`json: expected ${JSON.stringify(expected.json)}, got ${actual.body}`);
    }
  }
  return problems;
}
