import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../backends/memory/backend.js';
import type { Channel } from '../../src/channel.js';
import type { ChannelEventType } from '../../src/event.js';
import type { ChannelHandler } from '../../src/handler.js';
import type { MsgStatus } from '../../src/msg.js';
import { MAX_BODY_BYTES } from '../../src/read-body.js';
import { createApp } from '../../src/server.js';
import { addChannels, type ChannelSpec } from './channels.js';
import { testLogger } from './logger.js';
import type { FakeProvider, ProviderReply } from './provider.js';

export const TEST_BASE_URL = 'https://herald.example.com';

/** One provider request and everything Herald must do about it. */
export interface IncomingCase {
  label: string;
  /** Default POST. */
  method?: 'GET' | 'POST' | 'PUT';
  /** The action and query, e.g. `receive?from=%2B2507…`; a path starting with `/` is used as is. */
  url: string;
  /** Which of the table's channels (default `default`). */
  channel?: string;
  /** A raw body; an object is sent as JSON. */
  body?: string | object;
  /** Sent form-encoded. */
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Set up state first, such as a sent message a status callback refers to. */
  prepare?: (backend: MemoryBackend, channel: Channel) => void | Promise<void>;
  /** Provider API calls the handler makes while receiving (Telegram's getFile), in order. */
  provider?: ProviderReply[];

  status: number;
  /** Text the response body must contain. */
  response?: string | string[];
  contentType?: string;
  /** Messages stored, in order (omitted: none). Only the fields given are compared. */
  msgs?: ExpectedMsg[];
  /** Status updates applied, in order (omitted: none). */
  statuses?: ExpectedStatus[];
  /** Channel events stored, in order (omitted: none). */
  events?: ExpectedEvent[];
  /** Further checks on what was stored or answered. */
  check?: (result: { backend: MemoryBackend; response: Response; body: string; channel: Channel }) => void | Promise<void>;
}

export interface ExpectedMsg {
  urn?: string;
  text?: string;
  attachments?: string[];
  externalId?: string;
  contactName?: string;
  receivedOn?: Date;
}

export interface ExpectedStatus {
  msgUuid?: string;
  externalId?: string;
  status: MsgStatus;
  reason?: string;
}

export interface ExpectedEvent {
  type: ChannelEventType;
  urn?: string;
  contactName?: string;
  extra?: Record<string, string>;
}

export interface IncomingTable {
  handler: ChannelHandler;
  channels: Record<string, ChannelSpec>;
  cases: IncomingCase[];
  /** Needed when a case scripts provider replies. */
  provider?: FakeProvider;
}

/**
 * Runs a handler's table of incoming cases through the real HTTP app on the mock backend, and
 * adds the cases every provider route must pass: unknown channel, a channel of another type and
 * a body over 1 MiB each answer 4xx and store nothing.
 *
 * After every case it checks: the status code, the body, exactly the messages/statuses/events
 * expected (and nothing at all for a 4xx), one channel log for the request, and no secret of the
 * channel in any log.
 */
export function runIncomingCases(table: IncomingTable): void {
  describe(`${table.handler.name} (${table.handler.type}) incoming`, () => {
    for (const c of table.cases) it(c.label, () => runIncomingCase(table, c));
    for (const c of standardCases(table.handler)) it(c.label, () => runIncomingCase(table, c));
  });
}

async function runIncomingCase(table: IncomingTable, c: IncomingCase): Promise<void> {
  const backend = new MemoryBackend();
  const channels = addChannels(backend, table.handler.type, table.channels);
  const otherType = backend.addChannel({ uuid: '0e0e0e0e-0000-4000-8000-00000000000e', type: `${table.handler.type}x` });
  const channel = channels.get(c.channel ?? 'default');
  if (!channel) throw new Error(`case "${c.label}" names channel "${c.channel}", not in the table`);
  await c.prepare?.(backend, channel);
  const statusesBefore = [...backend.outgoing.values()].map((m) => m.status);
  if (c.provider) {
    if (!table.provider) throw new Error(`case "${c.label}" scripts provider replies; pass a FakeProvider in the table`);
    table.provider.expect(c.provider);
  }

  const app = createApp({ backend, handlers: [table.handler], baseUrl: TEST_BASE_URL, logger: testLogger });
  const path = c.url.startsWith('/')
    ? c.url.replace('{other}', otherType.uuid)
    : `/c/${table.handler.type}/${channel.uuid}/${c.url}`;
  const headers = new Headers(c.headers);
  let body: string | undefined;
  if (c.form) {
    body = new URLSearchParams(c.form).toString();
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
  } else if (typeof c.body === 'object') {
    body = JSON.stringify(c.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  } else {
    body = c.body;
  }
  const response = await app.request(`${TEST_BASE_URL}${path}`, { method: c.method ?? 'POST', headers, body });
  const text = await response.clone().text();

  expect(response.status, `status code; body: ${text}`).toBe(c.status);
  for (const fragment of [c.response ?? []].flat()) expect(text).toContain(fragment);
  if (c.contentType) expect(response.headers.get('content-type') ?? '').toContain(c.contentType);
  if (table.provider && c.provider) {
    expect(table.provider.mismatches).toEqual([]);
    expect(table.provider.requests.length, 'provider calls made').toBe(c.provider.length);
  }

  if (c.status >= 400) {
    expect(backend.msgsIn, 'nothing stored for a 4xx').toEqual([]);
    expect(backend.statuses, 'nothing stored for a 4xx').toEqual([]);
    expect(backend.events, 'nothing stored for a 4xx').toEqual([]);
    expect([...backend.outgoing.values()].map((m) => m.status), 'no message changed for a 4xx').toEqual(statusesBefore);
  }
  expect(backend.msgsIn.map((m, i) => pick(m, c.msgs?.[i]))).toEqual(c.msgs ?? []);
  expect(backend.statuses.map((s, i) => pick(s, c.statuses?.[i]))).toEqual(c.statuses ?? []);
  expect(backend.events.map((e, i) => pick(e, c.events?.[i]))).toEqual(c.events ?? []);

  const knownChannel = [...channels.values()].some((ch) => path.includes(ch.uuid)) && !path.includes(otherType.uuid);
  expect(backend.logs.length, 'one channel log per request to a known channel').toBe(knownChannel ? 1 : 0);
  expectNoSecretsInLogs(backend, table.handler, [...channels.values()]);

  await c.check?.({ backend, response, body: text, channel });
}

/** Fails when any channel log holds one of the channels' secret values. */
export function expectNoSecretsInLogs(backend: MemoryBackend, handler: ChannelHandler, channels: Channel[]): void {
  const logs = JSON.stringify(backend.logs);
  for (const ch of channels) {
    for (const secret of handler.redact(ch)) {
      if (secret) expect(logs.includes(secret), `secret "${secret}" found in a channel log`).toBe(false);
    }
  }
}

/** Keeps only the fields the expectation names, so a case lists just what it cares about. */
function pick(actual: object, expected: object | undefined): object {
  if (!expected) return actual;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(expected)) out[key] = (actual as Record<string, unknown>)[key];
  return out;
}

function standardCases(handler: ChannelHandler): IncomingCase[] {
  const cases: IncomingCase[] = [];
  for (const route of handler.routes) {
    const what = `${route.method} ${route.action}`;
    cases.push({
      label: `${what}: unknown channel uuid → 404`,
      method: route.method,
      url: `/c/${handler.type}/f3c2a1b0-1111-4222-8333-944455556666/${route.action}`,
      status: 404,
      response: 'no ',
    });
    cases.push({
      label: `${what}: malformed channel uuid → 404`,
      method: route.method,
      url: `/c/${handler.type}/not-a-uuid/${route.action}`,
      status: 404,
    });
    cases.push({
      label: `${what}: channel of another type → 404`,
      method: route.method,
      url: `/c/${handler.type}/{other}/${route.action}`,
      status: 404,
    });
    if (route.method === 'POST') {
      cases.push({
        label: `${what}: body over 1 MiB → 413`,
        method: 'POST',
        url: route.action,
        body: 'x'.repeat(MAX_BODY_BYTES + 1),
        headers: { 'content-type': 'text/plain' },
        status: 413,
      });
    }
  }
  cases.push({ label: 'unknown action → 404', url: 'nonexistent', status: 404 });
  return cases;
}
