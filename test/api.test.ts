import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryQueue } from '../backends/memory/queue.js';
import { PostgresApiStore } from '../backends/postgres/api-store.js';
import { PostgresBackend } from '../backends/postgres/backend.js';
import { isConnectionError } from '../backends/postgres/connection-error.js';
import { FeedSequencer } from '../backends/postgres/feed-sequencer.js';
import { handlers } from '../handlers/index.js';
import { createApi } from '../src/api/app.js';
import { MAX_BATCH } from '../src/api/messages.js';
import { openApiDocument } from '../src/api/openapi.js';
import { createApp } from '../src/server.js';
import { testLogger } from './harness/logger.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const ADMIN = 'test-admin-token-0123456789';
const BASE = 'https://herald.example.com';

let db: TestDatabase;
let backend: PostgresBackend;
let app: ReturnType<typeof createApp>;
let api: ReturnType<typeof createApi>;

beforeAll(async () => {
  db = await createTestDatabase();
  backend = await PostgresBackend.create({ sql: db.sql, queue: new MemoryQueue(), reconciler: { intervalMs: 3_600_000 } });
  const store = new PostgresApiStore(db.sql, (org, uuid) => backend.resendOutgoing(org, uuid), (uuid) => backend.channels.invalidate(uuid));
  api = createApi({ store, backend, handlers, baseUrl: BASE, adminToken: ADMIN, logger: testLogger, databaseDown: isConnectionError });
  app = createApp({ backend, handlers, baseUrl: BASE, logger: testLogger, api });
}, 60_000);

afterAll(async () => {
  await backend?.close();
  await db?.drop();
});

type Json = Record<string, any>;

async function call(method: string, path: string, body?: unknown, opts: { token?: string | null; headers?: Record<string, string>; raw?: string } = {}) {
  const token = opts.token === undefined ? ADMIN : opts.token;
  const res = await app.request(`/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers },
    ...(opts.raw !== undefined ? { body: opts.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
}

async function count(table: string): Promise<number> {
  const [row] = await db.sql.unsafe(`select count(*)::int as n from ${table}`);
  return row!.n as number;
}

async function newChannel(spec: Json = {}, token?: string): Promise<Json> {
  const res = await call('POST', '/channels', { type: 'ex', name: 'Test', country: 'RW', config: { send_url: 'http://127.0.0.1:9/send', send_authorization: 'Token s3cret-value' }, ...spec }, { token });
  expect(res.status).toBe(201);
  return res.body;
}

/** The field names an error's details name. */
const fields = (body: Json) => (body.error.details ?? []).map((d: Json) => d.field);

describe('authentication and orgs', () => {
  it('refuses a missing, malformed or unknown token with 401', async () => {
    expect((await call('GET', '/channels', undefined, { token: null })).status).toBe(401);
    expect((await call('GET', '/channels', undefined, { token: null, headers: { authorization: 'Basic abc' } })).body.error.code).toBe('unauthorized');
    expect((await call('GET', '/channels', undefined, { token: 'hld_not-a-real-token' })).status).toBe(401);
  });

  it('lets only the admin create orgs; an org token sees only its own org', async () => {
    const org = await call('POST', '/orgs', { name: 'Acme' });
    expect(org.status).toBe(201);
    expect(org.body.token).toMatch(/^hld_/);
    const [stored] = await db.sql`select token_hash from api_tokens where org_uuid = ${org.body.uuid}`;
    expect(stored!.token_hash).not.toContain(org.body.token);

    expect((await call('POST', '/orgs', { name: 'Nope' }, { token: org.body.token })).status).toBe(403);
    const admins = await newChannel();
    expect((await call('GET', `/channels/${admins.uuid}`, undefined, { token: org.body.token })).status).toBe(404);
    expect((await call('DELETE', `/channels/${admins.uuid}`, undefined, { token: org.body.token })).status).toBe(404);
    expect((await call('GET', '/channels', undefined, { token: org.body.token })).body.results).toEqual([]);
    const msg = await call('POST', '/messages', { channel: admins.uuid, urn: 'tel:+250788383383', text: 'hi' }, { token: org.body.token });
    expect(msg.status).toBe(422);
    expect((await call('GET', '/org', undefined, { token: org.body.token })).body).toMatchObject({ uuid: org.body.uuid, name: 'Acme' });
  });

  it("keeps every other org's messages, logs, contacts and events out of an org token's sight", async () => {
    const other = (await call('POST', '/orgs', { name: 'Other' })).body.token as string;
    const channel = await newChannel();
    const msg = (await call('POST', '/messages', { channel: channel.uuid, urn: 'tel:+250788555123', text: 'private' })).body;
    await app.request(`/c/ex/${channel.uuid}/receive?from=%2B250788555124&text=secret`);
    await backend.drain();
    await new FeedSequencer({ sql: db.sql }).sequence();
    expect((await call('GET', '/events')).body.results.length).toBeGreaterThan(0);
    expect((await call('GET', `/messages/${msg.uuid}`, undefined, { token: other })).status).toBe(404);
    expect((await call('POST', `/messages/${msg.uuid}/resend`, undefined, { token: other })).status).toBe(404);
    expect((await call('GET', `/messages?channel=${channel.uuid}`, undefined, { token: other })).body.results).toEqual([]);
    expect((await call('GET', `/channels/${channel.uuid}/logs`, undefined, { token: other })).status).toBe(404);
    expect((await call('PATCH', `/channels/${channel.uuid}`, { name: 'mine now' }, { token: other })).status).toBe(404);
    expect((await call('GET', `/contacts/${encodeURIComponent('tel:+250788555123')}`, undefined, { token: other })).status).toBe(404);
    expect((await call('GET', '/events', undefined, { token: other })).body.results).toEqual([]);
    expect((await call('GET', `/channels/${channel.uuid}`)).body.name).toBe('Test');
  });

  it('validates org creation and webhook settings, naming the field; secrets are masked', async () => {
    expect(fields((await call('POST', '/orgs', {})).body)).toEqual(['name']);
    expect(fields((await call('PATCH', '/org', { webhook_url: 'ftp://x' })).body)).toEqual(['webhook_url']);
    expect(fields((await call('PATCH', '/org', { webhook_secret: 'short' })).body)).toEqual(['webhook_secret']);
    const ok = await call('PATCH', '/org', { webhook_url: 'http://127.0.0.1:9/hook', webhook_secret: 'a-long-enough-secret' });
    expect(ok.body).toMatchObject({ webhook_url: 'http://127.0.0.1:9/hook', webhook_secret: '********' });
    expect((await call('PATCH', '/org', { webhook_url: null })).body.webhook_url).toBeNull();
  });
});

describe('channels', () => {
  it('creates a channel: secrets masked, callback URLs shown', async () => {
    const channel = await newChannel();
    expect(channel).toMatchObject({ type: 'ex', name: 'Test', country: 'RW', tps: 0 });
    expect(channel.config).toEqual({ send_url: 'http://127.0.0.1:9/send', send_authorization: '********' });
    expect(channel.callback_urls.receive).toBe(`${BASE}/c/ex/${channel.uuid}/receive`);
    expect((await call('GET', `/channels/${channel.uuid}`)).body).toEqual(channel);
    expect((await call('GET', '/channels')).body.results.map((c: Json) => c.uuid)).toContain(channel.uuid);
  });

  it('refuses bad channels with 400 naming the field, and stores nothing', async () => {
    const before = await count('channels');
    const cases: Array<[unknown, string[]]> = [
      [{}, ['type']],
      [{ type: 'zz' }, ['type']],
      [{ type: 'ex', tps: 'fast' }, ['tps']],
      [{ type: 'ex', tps: -1 }, ['tps']],
      [{ type: 'ex', country: 'Rwanda' }, ['country']],
      [{ type: 'ex', uuid: 'abc' }, ['uuid']],
      [{ type: 'ex', colour: 'red' }, ['colour']],
      [{ type: 'tg', config: {} }, ['config']],
      [{ type: 'ex', config: 'none' }, ['config']],
      [[1, 2], ['(body)']],
    ];
    for (const [body, expected] of cases) {
      const res = await call('POST', '/channels', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(fields(res.body), JSON.stringify(body)).toEqual(expected);
    }
    expect((await call('POST', '/channels', undefined, { raw: '{"type": ' })).body.error.message).toMatch(/not valid JSON/);
    expect((await call('POST', '/channels', undefined, { raw: 'x'.repeat(6 * 1024 * 1024) })).status).toBe(413);
    expect(await count('channels')).toBe(before);
  });

  it('masks secrets inside other settings too, and keeps them when sent back masked', async () => {
    const channel = await newChannel({
      config: { send_url: 'https://user:pa55word-xyz@sms.example.com/send?api_key=key-123456', headers: { 'X-Api-Key': 'hdr-secret-789' } },
    });
    const shown = JSON.stringify(channel.config);
    for (const secret of ['pa55word-xyz', 'key-123456', 'hdr-secret-789']) expect(shown).not.toContain(secret);
    expect(channel.config.headers).toEqual({ 'X-Api-Key': '********' });
    await call('PATCH', `/channels/${channel.uuid}`, { config: { ...channel.config, max_length: 100 } });
    const [row] = await db.sql`select config from channels where uuid = ${channel.uuid}`;
    expect(row!.config).toMatchObject({ headers: { 'X-Api-Key': 'hdr-secret-789' }, max_length: 100 });
    expect(row!.config.send_url).toContain('pa55word-xyz');
  });

  it('refuses a uuid that is taken with 409', async () => {
    const channel = await newChannel();
    const again = await call('POST', '/channels', { type: 'ex', uuid: channel.uuid });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('channel_exists');
  });

  it('updates: config merged, a masked secret sent back kept, null removes a key', async () => {
    const channel = await newChannel();
    const res = await call('PATCH', `/channels/${channel.uuid}`, { name: 'Renamed', tps: 5, config: { ...channel.config, max_length: 320, send_url: 'http://127.0.0.1:9/other' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Renamed', tps: 5, config: { send_url: 'http://127.0.0.1:9/other', send_authorization: '********', max_length: 320 } });
    const [row] = await db.sql`select config from channels where uuid = ${channel.uuid}`;
    expect(row!.config.send_authorization).toBe('Token s3cret-value');
    const removed = await call('PATCH', `/channels/${channel.uuid}`, { config: { max_length: null } });
    expect(removed.body.config).not.toHaveProperty('max_length');
    expect(fields((await call('PATCH', `/channels/${channel.uuid}`, { type: 'tg' })).body)).toEqual(['type']);
    expect((await call('PATCH', `/channels/${channel.uuid}`, { config: { send_method: 'BREW' } })).status).toBe(400);
    expect((await call('PATCH', '/channels/not-a-uuid', { name: 'x' })).status).toBe(404);
  });

  it('deletes: the channel is gone from the API and its callbacks answer 404', async () => {
    const channel = await newChannel();
    expect((await call('DELETE', `/channels/${channel.uuid}`)).status).toBe(204);
    expect((await call('GET', `/channels/${channel.uuid}`)).status).toBe(404);
    expect((await call('DELETE', `/channels/${channel.uuid}`)).status).toBe(404);
    const callback = await app.request(`/c/ex/${channel.uuid}/receive?from=%2B250788383383&text=hi`);
    expect(callback.status).toBe(404);
  });

  it("lists a channel's logs newest first, with paging", async () => {
    const channel = await newChannel();
    for (const text of ['one', 'two', 'three']) {
      expect((await app.request(`/c/ex/${channel.uuid}/receive?from=%2B250788383383&text=${text}`)).status).toBe(200);
    }
    await backend.drain();
    const first = await call('GET', `/channels/${channel.uuid}/logs?limit=2`);
    expect(first.body.results).toHaveLength(2);
    expect(first.body.results[0]).toMatchObject({ type: 'msg_receive', is_error: false, http_logs: [expect.objectContaining({ method: 'GET', status_code: 200 })] });
    const second = await call('GET', `/channels/${channel.uuid}/logs?limit=2&before=${first.body.next}`);
    expect(second.body.results).toHaveLength(1);
    expect(fields((await call('GET', `/channels/${channel.uuid}/logs?limit=0`)).body)).toEqual(['limit']);
    expect(fields((await call('GET', `/channels/${channel.uuid}/logs?before=yesterday`)).body)).toEqual(['before']);
  });
});

describe('messages', () => {
  let channel: Json;
  beforeAll(async () => {
    channel = await newChannel();
  });

  it('queues a message, normalising the URN with the channel country, and shows its history', async () => {
    const res = await call('POST', '/messages', { channel: channel.uuid, urn: 'tel:0788383383', text: 'Hello', quick_replies: ['Yes', 'No'], metadata: { order: 7 } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ direction: 'out', urn: 'tel:+250788383383', text: 'Hello', status: 'queued', priority: 'high', quick_replies: ['Yes', 'No'], metadata: { order: 7 } });
    const got = await call('GET', `/messages/${res.body.uuid}`);
    expect(got.body.history).toEqual([{ status: 'queued', at: expect.any(String) }]);
    expect(got.body.contact.uuid).toEqual(expect.any(String));
  });

  it('refuses bad messages naming the field, and stores nothing', async () => {
    const before = await count('msgs');
    const base = { channel: channel.uuid, urn: 'tel:+250788383383', text: 'hi' };
    const cases: Array<[Json, number, string[]]> = [
      [{ ...base, channel: undefined }, 400, ['channel']],
      [{ ...base, channel: 'abc' }, 400, ['channel']],
      [{ ...base, channel: '0191e180-7d60-7000-8000-00000000dead' }, 422, ['channel']],
      [{ ...base, urn: undefined }, 400, ['urn']],
      [{ ...base, urn: 'tel:12' }, 400, ['urn']],
      [{ ...base, urn: 'mailto:a@b.c' }, 400, ['urn']],
      [{ ...base, urn: 'telegram:1234' }, 400, ['urn']],
      [{ ...base, text: '' }, 400, ['text']],
      [{ ...base, text: 42 }, 400, ['text']],
      [{ ...base, attachments: ['photo.jpg'] }, 400, ['attachments.0']],
      [{ ...base, priority: 'urgent' }, 400, ['priority']],
      [{ ...base, send_at: 'tomorrow' }, 400, ['send_at']],
      [{ ...base, metadata: 'x' }, 400, ['metadata']],
    ];
    for (const [body, status, expected] of cases) {
      const res = await call('POST', '/messages', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(fields(res.body), JSON.stringify(body)).toEqual(expected);
    }
    expect((await call('POST', '/messages', undefined, { raw: '' })).status).toBe(400);
    expect(await count('msgs')).toBe(before);
  });

  it('answers the same message for a repeated Idempotency-Key, 409 for another body', async () => {
    const body = { channel: channel.uuid, urn: 'tel:+250788000001', text: 'once' };
    const headers = { 'idempotency-key': 'order-41' };
    const first = await call('POST', '/messages', body, { headers });
    const again = await call('POST', '/messages', body, { headers });
    expect(again.status).toBe(202);
    expect(again.body.uuid).toBe(first.body.uuid);
    const before = await count('msgs');
    const conflict = await call('POST', '/messages', { ...body, text: 'twice' }, { headers });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('idempotency_conflict');
    const racing = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/messages', { ...body, text: 'race' }, { headers: { 'idempotency-key': 'race-1' } })));
    expect(new Set(racing.map((r) => r.body.uuid)).size).toBe(1);
    expect(await count('msgs')).toBe(before + 1);
    expect(fields((await call('POST', '/messages', body, { headers: { 'idempotency-key': 'k'.repeat(300) } })).body)).toEqual(['Idempotency-Key']);
  });

  it('refuses a stopped contact with 409 until it is unstopped', async () => {
    const urn = encodeURIComponent('tel:+250788000002');
    expect((await call('GET', `/contacts/${urn}`)).status).toBe(404);
    const stopped = await call('POST', `/contacts/${urn}/stop`);
    expect(stopped.body).toMatchObject({ stopped: true, stopped_reason: 'api', urns: ['tel:+250788000002'] });
    const refused = await call('POST', '/messages', { channel: channel.uuid, urn: 'tel:+250788000002', text: 'hi' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('contact_stopped');
    expect((await call('POST', `/contacts/${urn}/unstop`)).body.stopped).toBe(false);
    expect((await call('POST', '/messages', { channel: channel.uuid, urn: 'tel:+250788000002', text: 'hi' })).status).toBe(202);
    expect(fields((await call('GET', `/contacts/${encodeURIComponent('tel:abc')}`)).body)).toEqual(['urn']);
    expect((await call('POST', `/contacts/${encodeURIComponent('tel:+250788000999')}/unstop`)).status).toBe(404);
  });

  it('queues a batch, answering each item (bulk by default); refuses more than 1,000 with 413', async () => {
    const res = await call('POST', '/messages/batch', {
      messages: [
        { channel: channel.uuid, urn: 'tel:+250788000010', text: 'a' },
        { channel: channel.uuid, urn: 'tel:nope', text: 'b' },
        { channel: channel.uuid, urn: 'tel:+250788000011', text: 'c', priority: 'high' },
      ],
    });
    expect(res.status).toBe(202);
    expect(res.body.results[0]).toMatchObject({ status: 'queued', priority: 'bulk' });
    expect(res.body.results[1].error.details).toEqual([{ field: 'messages.1.urn', message: expect.any(String) }]);
    expect(res.body.results[2]).toMatchObject({ priority: 'high' });

    await call('POST', `/contacts/${encodeURIComponent('tel:+250788000013')}/stop`);
    const mixed = await call('POST', '/messages/batch', {
      messages: [
        { channel: channel.uuid, urn: 'tel:+250788000013', text: 'to a stopped contact' },
        { channel: channel.uuid, urn: 'tel:+250788000014', text: 'first to a new person' },
        { channel: channel.uuid, urn: 'tel:+250788000014', text: 'second to the same person' },
      ],
    });
    expect(mixed.body.results[0].error.code).toBe('contact_stopped');
    expect(mixed.body.results[1].contact.uuid).toBe(mixed.body.results[2].contact.uuid);
    expect((await call('GET', `/messages/${mixed.body.results[2].uuid}`)).body).toMatchObject({ text: 'second to the same person', status: 'queued' });

    const before = await count('msgs');
    const big = await call('POST', '/messages/batch', { messages: Array.from({ length: MAX_BATCH + 1 }, () => ({ channel: channel.uuid, urn: 'tel:+250788000012', text: 'x' })) });
    expect(big.status).toBe(413);
    expect((await call('POST', '/messages/batch', { messages: 'all' })).status).toBe(400);
    expect((await call('POST', '/messages/batch', { messages: [] })).status).toBe(400);
    expect(await count('msgs')).toBe(before);
  });

  it('lists with filters and cursor paging, oldest first', async () => {
    const own = await newChannel();
    const queued = [];
    for (let i = 0; i < 5; i++) queued.push((await call('POST', '/messages', { channel: own.uuid, urn: `tel:+25078810000${i}`, text: `m${i}` })).body.uuid);
    const page1 = await call('GET', `/messages?channel=${own.uuid}&limit=3`);
    expect(page1.body.results.map((m: Json) => m.uuid)).toEqual(queued.slice(0, 3));
    const page2 = await call('GET', `/messages?channel=${own.uuid}&limit=3&after=${page1.body.next}`);
    expect(page2.body.results.map((m: Json) => m.uuid)).toEqual(queued.slice(3));
    expect(page2.body.next).toBeNull();
    const byUrn = await call('GET', `/messages?urn=${encodeURIComponent('tel:+250788100002')}&direction=out&status=queued`);
    expect(byUrn.body.results.map((m: Json) => m.uuid)).toEqual([queued[2]]);
    const bad = await call('GET', '/messages?direction=sideways&status=lost&channel=x&after=y&limit=9999&colour=red');
    expect(bad.status).toBe(400);
    expect(fields(bad.body).sort()).toEqual(['after', 'channel', 'colour', 'direction', 'status']);
    expect((await call('GET', '/messages/0191e180-7d60-7000-8000-00000000dead')).status).toBe(404);
  });

  it('resends a failed message and refuses one that has not failed', async () => {
    const msg = (await call('POST', '/messages', { channel: channel.uuid, urn: 'tel:+250788000020', text: 'retry me' })).body;
    expect((await call('POST', `/messages/${msg.uuid}/resend`)).status).toBe(409);
    await db.sql`update msgs set status = 'failed', failed_reason = 'connection_failed', error_count = 3 where uuid = ${msg.uuid}`;
    const resent = await call('POST', `/messages/${msg.uuid}/resend`);
    expect(resent.status).toBe(202);
    expect(resent.body).toMatchObject({ status: 'queued', error_count: 0, failed_reason: null });
    expect(resent.body.history.at(-1)).toMatchObject({ status: 'queued', reason: 'resend' });
    expect((await call('POST', '/messages/0191e180-7d60-7000-8000-00000000dead/resend')).status).toBe(404);
  });
});

describe('events feed', () => {
  it('pages through the org events a callback wrote, with their delivery state', async () => {
    const channel = await newChannel();
    const callback = await app.request(`/c/ex/${channel.uuid}/receive?from=%2B250788777001&text=feed`);
    const msgUuid = ((await callback.json()) as Json).data[0].msg_uuid;
    await new FeedSequencer({ sql: db.sql }).sequence();
    let after: string | undefined;
    let found: Json | undefined;
    for (;;) {
      const page = await call('GET', `/events?limit=50${after ? `&after=${after}` : ''}`);
      found ??= page.body.results.find((e: Json) => e.type === 'message.received' && e.data.uuid === msgUuid);
      if (!page.body.next) break;
      after = page.body.next;
    }
    expect(found).toMatchObject({ data: { text: 'feed', urn: 'tel:+250788777001' }, delivery: { attempts: 0, last_error: null, delivered_on: null, failed_on: null } });
    expect(found!.data.created_on).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(fields((await call('GET', '/events?after=abc')).body)).toEqual(['after']);
    expect(fields((await call('GET', '/events?limit=5000')).body)).toEqual(['limit']);
  });
});

describe('OpenAPI document', () => {
  it('documents exactly the routes the API serves', async () => {
    const res = await app.request('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Json;
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument(BASE))));
    const documented = Object.entries(doc.paths as Json).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const served = api.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(new Set(documented)).toEqual(new Set(served));
  });

  it('answers unknown API routes in the API error shape', async () => {
    expect((await call('GET', '/nothing-here')).body).toEqual({ error: { code: 'not_found', message: 'no route for GET /api/v1/nothing-here' } });
  });
});
