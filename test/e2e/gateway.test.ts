/**
 * Herald end to end, as an operator and an upstream app see it: the real process (`npm start`)
 * on a fresh Postgres database and its own Redis prefix, driven only over HTTP. Providers are
 * local stand-ins (an External send API, the Telegram Bot API) and the upstream app is a local
 * webhook receiver; all traffic stays on 127.0.0.1.
 *
 * The org, its webhook and its two channels are set up through the API before the tests; the
 * tests then run in order as one journey (the metrics test counts the traffic of those before it,
 * and the last one stops the process and restarts it on the same storage).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../src/webhook-signature.js';
import { eventually } from '../support/eventually.js';
import { startFakeProvider, type FakeProviderServer, type ProviderRequest } from '../support/fake-provider.js';
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.js';
import { startHeraldProcess, type HeraldProcess } from '../support/herald-process.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { startWebhookReceiver, type WebhookDelivery, type WebhookReceiver } from '../support/webhook-receiver.js';

const REDIS_URL = process.env.HERALD_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `e2e-admin-${randomBytes(12).toString('hex')}`;
const WEBHOOK_SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const BOT_TOKEN = '123456:e2e-bot-token';
const EX_ADDRESS = '+250788000000';

type Json = Record<string, any>;

let db: TestDatabase;
let dir: string;
let redisPrefix: string;
let provider: FakeProviderServer;
let telegram: FakeTelegram;
let receiver: WebhookReceiver;
let herald: HeraldProcess;
/** Herald's environment, kept to restart it on the same storage. */
let heraldEnv: Record<string, string>;
/** `HERALD_BASE_URL`: where Herald listens, so the callback URLs it shows can be called as they are. */
let baseUrl: string;
let org: Json;
let exChannel: Json;
let tgChannel: Json;

/** What the tests made Herald do, for the metrics test to find. */
const traffic = {
  received: { ex: 0, tg: 0 },
  sent: { ex: 0, tg: 0 },
};

/** A port free on 127.0.0.1 right now, so `HERALD_BASE_URL` can name it before Herald binds it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An upstream API call with the org's token (or `token`). */
async function api(method: string, path: string, body?: unknown, token: string = org.token): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
}

/** A setup call that must succeed with `expected`. */
async function apiOk(expected: number, method: string, path: string, body?: unknown, token?: string): Promise<Json> {
  const res = await api(method, path, body, token);
  if (res.status !== expected) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A provider's call to one of the callback URLs the API handed out. */
async function callback(url: string, init: RequestInit): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

async function message(uuid: string): Promise<Json> {
  return apiOk(200, 'GET', `/messages/${uuid}`);
}

async function allEvents(): Promise<Json[]> {
  return (await apiOk(200, 'GET', '/events?limit=1000')).results as Json[];
}

/** The External send request for message `uuid`, its form body read into an object. */
function exRequestFor(uuid: string): (ProviderRequest & { form: Record<string, string> }) | undefined {
  const found = provider.requests.find((r) => new URLSearchParams(r.body).get('id') === uuid);
  return found && { ...found, form: Object.fromEntries(new URLSearchParams(found.body)) };
}

/** The value of one Prometheus sample, or 0 when the series is absent. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => given[k] === v)) return Number(match[3]);
  }
  return 0;
}

/** Checks a webhook's signature with Herald's helper and by recomputing the HMAC from the contract. */
function expectSignedBySecret(delivery: WebhookDelivery): void {
  expect(delivery.signature).toBeDefined();
  const header = delivery.signature!;
  expect(verifyWebhookSignature(WEBHOOK_SECRET, delivery.rawBody, header)).toBe(true);
  expect(verifyWebhookSignature(`${WEBHOOK_SECRET}-not`, delivery.rawBody, header)).toBe(false);

  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  expect(match, `signature header "${header}"`).not.toBeNull();
  const [, t, v1] = match!;
  expect(Math.abs(Number(t) - delivery.at / 1000)).toBeLessThan(60);
  const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${delivery.rawBody}`).digest('hex');
  expect(v1).toBe(expected);
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'herald-e2e-'));
  redisPrefix = `herald_test_e2e_${process.pid}_${randomBytes(4).toString('hex')}`;
  [provider, telegram, receiver] = await Promise.all([startFakeProvider(), startFakeTelegram(), startWebhookReceiver()]);

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  heraldEnv = {
    HERALD_PORT: String(port),
    HERALD_BASE_URL: baseUrl,
    HERALD_DATABASE_URL: db.url,
    HERALD_REDIS_URL: REDIS_URL,
    HERALD_REDIS_PREFIX: redisPrefix,
    HERALD_ADMIN_TOKEN: ADMIN_TOKEN,
    HERALD_DATA_DIR: join(dir, 'data'),
    HERALD_SPOOL_DIR: join(dir, 'spool'),
    HERALD_CHANNELS_FILE: '',
  };
  herald = await startHeraldProcess(heraldEnv);

  org = await apiOk(201, 'POST', '/orgs', { name: 'E2E Org' }, ADMIN_TOKEN);
  await apiOk(200, 'PATCH', '/org', { webhook_url: receiver.url, webhook_secret: WEBHOOK_SECRET });
  exChannel = await apiOk(201, 'POST', '/channels', {
    type: 'ex',
    name: 'SMS gateway',
    address: EX_ADDRESS,
    country: 'RW',
    config: { send_url: `${provider.url}/send`, send_authorization: 'Token ex-provider-secret' },
  });
  tgChannel = await apiOk(201, 'POST', '/channels', {
    type: 'tg',
    name: 'Telegram bot',
    address: 'herald_e2e_bot',
    config: { auth_token: BOT_TOKEN, base_url: telegram.url },
  });
}, 60_000);

afterAll(async () => {
  await herald?.kill();
  await Promise.all([provider?.close(), telegram?.close(), receiver?.close()]);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${redisPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('Herald as a process, through HTTP only', () => {
  it('gives a new org its own token, webhook settings and channels, with callback URLs on HERALD_BASE_URL', async () => {
    expect(org).toMatchObject({ name: 'E2E Org', token: expect.any(String) });
    expect(await apiOk(200, 'GET', '/org')).toMatchObject({ uuid: org.uuid, webhook_url: receiver.url, webhook_secret: '********' });

    expect(exChannel.callback_urls).toEqual({
      receive: `${baseUrl}/c/ex/${exChannel.uuid}/receive`,
      sent: `${baseUrl}/c/ex/${exChannel.uuid}/sent`,
      delivered: `${baseUrl}/c/ex/${exChannel.uuid}/delivered`,
      failed: `${baseUrl}/c/ex/${exChannel.uuid}/failed`,
      stopped: `${baseUrl}/c/ex/${exChannel.uuid}/stopped`,
    });
    expect(exChannel.config).toEqual({ send_url: `${provider.url}/send`, send_authorization: '********' });
    expect(tgChannel.callback_urls).toEqual({ receive: `${baseUrl}/c/tg/${tgChannel.uuid}/receive` });
    expect(tgChannel.config).toEqual({ auth_token: '********', base_url: telegram.url });

    const listed = (await apiOk(200, 'GET', '/channels')).results as Json[];
    expect(listed.map((c) => c.uuid).sort()).toEqual([exChannel.uuid, tgChannel.uuid].sort());
    // The admin token acts on the default org, which does not see this org's channels.
    const admins = (await apiOk(200, 'GET', '/channels', undefined, ADMIN_TOKEN)).results as Json[];
    expect(admins.map((c) => c.uuid)).not.toContain(exChannel.uuid);
  });

  it('accepts an External form POST and a Telegram update, and posts signed message.received webhooks', async () => {
    const exReceive = await callback(exChannel.callback_urls.receive, {
      method: 'POST',
      headers: { 'x-request-id': 'lb-e2e-1' },
      body: new URLSearchParams({ from: '0788383383', text: 'Hello from SMS', id: 'ex-mo-1' }),
    });
    traffic.received.ex++;
    expect(exReceive.status).toBe(200);
    expect(exReceive.headers.get('x-request-id')).toBe('lb-e2e-1');
    expect(exReceive.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(exReceive.body).toEqual({
      message: 'Message Accepted',
      data: [
        {
          type: 'msg',
          channel_uuid: exChannel.uuid,
          msg_uuid: expect.any(String),
          urn: 'tel:+250788383383',
          text: 'Hello from SMS',
          external_id: 'ex-mo-1',
          received_on: expect.any(String),
        },
      ],
    });

    const date = Math.floor(Date.now() / 1000) - 5;
    const update = {
      update_id: 9001,
      message: { message_id: 77, from: { id: 4242, first_name: 'Bob' }, chat: { id: 4242, username: 'Bobby' }, date, text: 'Hello from Telegram' },
    };
    const tgReceive = await callback(tgChannel.callback_urls.receive, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(update),
    });
    traffic.received.tg++;
    expect(tgReceive.status).toBe(200);
    expect(tgReceive.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(tgReceive.body).toMatchObject({
      message: 'Message Accepted',
      data: [
        {
          type: 'msg',
          channel_uuid: tgChannel.uuid,
          urn: 'telegram:4242#bobby',
          text: 'Hello from Telegram',
          external_id: '77',
          received_on: new Date(date * 1000).toISOString(),
        },
      ],
    });

    const exUuid = exReceive.body.data[0].msg_uuid as string;
    const tgUuid = tgReceive.body.data[0].msg_uuid as string;
    const receivedWebhook = (uuid: string) => receiver.deliveriesOf('message.received', (d) => d.uuid === uuid)[0];
    await eventually('both message.received webhooks', () => !!receivedWebhook(exUuid) && !!receivedWebhook(tgUuid), 10_000);

    const exHook = receivedWebhook(exUuid)!;
    expect(exHook.contentType).toMatch(/^application\/json/);
    expect(exHook.event).toMatchObject({
      id: expect.any(String),
      type: 'message.received',
      created_on: expect.any(String),
      data: { uuid: exUuid, direction: 'in', channel_uuid: exChannel.uuid, urn: 'tel:+250788383383', text: 'Hello from SMS', external_id: 'ex-mo-1' },
    });
    expectSignedBySecret(exHook);
    const tgHook = receivedWebhook(tgUuid)!;
    expect(tgHook.event.data).toMatchObject({ uuid: tgUuid, channel_uuid: tgChannel.uuid, urn: 'telegram:4242#bobby', text: 'Hello from Telegram', external_id: '77' });
    expectSignedBySecret(tgHook);

    // The stored message reads back the same through the API.
    expect(await message(tgUuid)).toMatchObject({ direction: 'in', channel: tgChannel.uuid, text: 'Hello from Telegram', contact: { name: 'Bob' } });
  });

  it('retries a webhook the receiver refused, after a back-off, and the feed shows the failed attempt then the delivery', async () => {
    const text = `retry me ${randomBytes(3).toString('hex')}`;
    const refused = new Set<string>();
    receiver.answer = (event) => {
      if (event.type !== 'message.received' || event.data.text !== text || refused.has(event.id)) return { status: 200 };
      refused.add(event.id);
      return { status: 500, body: 'receiver is down' };
    };

    const received = await callback(exChannel.callback_urls.receive, { method: 'POST', body: new URLSearchParams({ from: '0788383383', text }) });
    traffic.received.ex++;
    expect(received.status).toBe(200);
    const uuid = received.body.data[0].msg_uuid as string;
    const attempts = () => receiver.deliveriesOf('message.received', (d) => d.uuid === uuid);

    await eventually('the first attempt', () => attempts().length === 1, 10_000);
    const [first] = attempts();
    expect(first!.status).toBe(500);
    const eventId = first!.event.id;
    const feedEntry = async () => (await allEvents()).find((e) => e.id === eventId);
    await eventually('the failed attempt recorded', async () => (await feedEntry())?.delivery.attempts === 1, 5_000);
    expect((await feedEntry())!.delivery).toEqual({ attempts: 1, last_error: 'HTTP 500: receiver is down', delivered_on: null, failed_on: null });

    // The first retry comes 7.5 to 10 s after the failure, and the dispatcher looks every second.
    await eventually('the retry', () => attempts().length === 2, 14_000);
    const [, retry] = attempts();
    expect(retry!.status).toBe(200);
    expect(retry!.event).toEqual(first!.event);
    expect(retry!.at - first!.at).toBeGreaterThanOrEqual(7_000);
    expectSignedBySecret(retry!);
    await eventually('the delivery recorded', async () => (await feedEntry())?.delivery.delivered_on != null, 5_000);
    expect((await feedEntry())!.delivery).toMatchObject({ attempts: 2, last_error: null, delivered_on: expect.any(String), failed_on: null });
  }, 25_000);

  it('sends queued messages, one at a time and in a batch, to both providers exactly as addressed', async () => {
    const single = await api('POST', '/messages', { channel: exChannel.uuid, urn: 'tel:+250788383383', text: 'Your code is 1234' });
    expect(single.status).toBe(202);
    expect(single.body).toMatchObject({ direction: 'out', channel: exChannel.uuid, urn: 'tel:+250788383383', status: 'queued', priority: 'high' });
    const tgSingle = await api('POST', '/messages', { channel: tgChannel.uuid, urn: 'telegram:4242', text: 'Hi Bob' });
    expect(tgSingle.status).toBe(202);
    expect(tgSingle.body).toMatchObject({ status: 'queued', urn: 'telegram:4242' });

    const batch = await api('POST', '/messages/batch', {
      messages: [
        { channel: exChannel.uuid, urn: 'tel:0788383384', text: 'Batch SMS & more' },
        { channel: tgChannel.uuid, urn: 'telegram:5151', text: 'Batch Telegram' },
      ],
    });
    expect(batch.status).toBe(202);
    const [exBatch, tgBatch] = batch.body.results as Json[];
    expect(exBatch).toMatchObject({ status: 'queued', priority: 'bulk', urn: 'tel:+250788383384' });
    expect(tgBatch).toMatchObject({ status: 'queued', priority: 'bulk', urn: 'telegram:5151' });
    traffic.sent.ex += 2;
    traffic.sent.tg += 2;

    await eventually('both External sends', () => !!exRequestFor(single.body.uuid) && !!exRequestFor(exBatch!.uuid), 10_000);
    const exSent = (uuid: string, to: string, text: string) => ({
      id: uuid,
      text,
      to,
      to_no_plus: to.slice(1),
      from: EX_ADDRESS,
      from_no_plus: EX_ADDRESS.slice(1),
      channel: exChannel.uuid,
    });
    expect(exRequestFor(single.body.uuid)).toMatchObject({ method: 'POST', url: '/send', form: exSent(single.body.uuid, '+250788383383', 'Your code is 1234') });
    expect(exRequestFor(exBatch!.uuid)!.form).toEqual(exSent(exBatch!.uuid, '+250788383384', 'Batch SMS & more'));
    expect(provider.requests).toHaveLength(2);

    await eventually('both Telegram sends', () => telegram.calls.length === 2, 10_000);
    const byChat = (chatId: string) => telegram.calls.find((c) => c.params.chat_id === chatId);
    expect(byChat('4242')).toMatchObject({ token: BOT_TOKEN, method: 'sendMessage', params: { chat_id: '4242', text: 'Hi Bob' } });
    expect(byChat('5151')).toMatchObject({ token: BOT_TOKEN, method: 'sendMessage', params: { chat_id: '5151', text: 'Batch Telegram' } });

    // Each send is recorded: the External one wired, the Telegram one with the id Telegram gave it.
    await eventually('all four recorded as wired', async () => {
      const statuses = await Promise.all([single.body.uuid, tgSingle.body.uuid, exBatch!.uuid, tgBatch!.uuid].map(async (u) => (await message(u)).status));
      return statuses.every((s) => s === 'wired');
    }, 10_000);
    expect(await message(tgSingle.body.uuid)).toMatchObject({ external_id: String(byChat('4242')!.messageId), sent_on: expect.any(String) });
  });

  it("records the External provider's delivery report: history queued → wired → delivered, with message.status webhooks", async () => {
    const queued = await apiOk(202, 'POST', '/messages', { channel: exChannel.uuid, urn: 'tel:+250788383385', text: 'Please confirm' });
    traffic.sent.ex++;
    await eventually('the send recorded', async () => (await message(queued.uuid)).status === 'wired', 10_000);
    expect(exRequestFor(queued.uuid)!.form).toMatchObject({ id: queued.uuid, to: '+250788383385', text: 'Please confirm' });

    const report = await callback(exChannel.callback_urls.delivered, { method: 'POST', body: new URLSearchParams({ id: queued.uuid }) });
    expect({ status: report.status, body: report.body }).toEqual({
      status: 200,
      body: { message: 'Status Update Accepted', data: [{ type: 'status', channel_uuid: exChannel.uuid, msg_uuid: queued.uuid, status: 'delivered' }] },
    });

    const read = await message(queued.uuid);
    expect(read).toMatchObject({ uuid: queued.uuid, direction: 'out', status: 'delivered', text: 'Please confirm' });
    expect(read.history.map((h: Json) => h.status)).toEqual(['queued', 'wired', 'delivered']);

    const statusWebhooks = () => receiver.deliveriesOf('message.status', (d) => d.msg_uuid === queued.uuid).map((d) => d.event.data.status);
    await eventually('the wired and delivered webhooks', () => statusWebhooks().includes('wired') && statusWebhooks().includes('delivered'), 10_000);
    const delivered = receiver.deliveriesOf('message.status', (d) => d.msg_uuid === queued.uuid && d.status === 'delivered')[0]!;
    expect(delivered.event.data).toMatchObject({ msg_uuid: queued.uuid, channel_uuid: exChannel.uuid, status: 'delivered' });
    expectSignedBySecret(delivered);
  });

  it('reports itself healthy, with the database and Redis ok', async () => {
    const res = await fetch(`${baseUrl}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok', spool: 'ok', queue: 'ok' } });
  });

  it('counts received and sent messages per channel type, and webhook deliveries, in /metrics', async () => {
    let metrics = '';
    // A send is counted as its outcome is recorded, which the API may show a moment earlier.
    await eventually('the sends counted', async () => {
      const res = await fetch(`${baseUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      metrics = await res.text();
      return sample(metrics, 'herald_messages_sent_total', { channel_type: 'ex' }) >= traffic.sent.ex;
    }, 5_000);
    for (const type of ['ex', 'tg'] as const) {
      expect(sample(metrics, 'herald_messages_received_total', { channel_type: type }), `received ${type}`).toBe(traffic.received[type]);
      expect(sample(metrics, 'herald_messages_sent_total', { channel_type: type }), `sent ${type}`).toBe(traffic.sent[type]);
      expect(sample(metrics, 'herald_callbacks_total', { channel_type: type, outcome: 'accepted', status_class: '2xx' })).toBeGreaterThan(0);
    }
    expect(sample(metrics, 'herald_webhook_deliveries_total')).toBeGreaterThan(0);
    expect(sample(metrics, 'herald_webhook_failures_total', { final: 'false' })).toBe(1);
  });

  it('on SIGTERM finishes the send in flight and exits 0; restarted, it shows the send recorded and delivers its webhook', async () => {
    provider.delayMs = 1_500;
    const queued = await apiOk(202, 'POST', '/messages', { channel: exChannel.uuid, urn: 'tel:+250788383386', text: 'Sent while stopping' });
    await eventually('the send in flight', () => !!exRequestFor(queued.uuid), 10_000);

    expect(await herald.stop()).toBe(0);
    expect(herald.logs.some((l) => l.msg === 'herald stopped')).toBe(true);

    provider.delayMs = 0;
    herald = await startHeraldProcess(heraldEnv);
    const read = await message(queued.uuid);
    expect(read.status).toBe('wired');
    expect(read.history.map((h: Json) => h.status)).toEqual(['queued', 'wired']);
    await eventually('the wired webhook', () => receiver.deliveriesOf('message.status', (d) => d.msg_uuid === queued.uuid).length > 0, 10_000);
    expect(provider.requests.filter((r) => new URLSearchParams(r.body).get('id') === queued.uuid)).toHaveLength(1);

    expect(await herald.stop()).toBe(0);
  }, 30_000);
});
