import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher, type WebhookDispatcherOptions } from '../backends/postgres/webhook-dispatcher.js';
import { signWebhook, verifyWebhookSignature } from '../src/webhook-signature.js';
import { testLogger } from './harness/logger.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const DAY_MS = 24 * 60 * 60_000;

interface Received {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Respond = (res: ServerResponse, received: Received) => void;

let db: TestDatabase;
let receiver: Server;
let hookUrl: string;
let received: Received[] = [];
let respond: Respond = (res) => res.writeHead(200).end();

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const r = { method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      respond(res, r);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
  await db?.drop();
});

beforeEach(async () => {
  received = [];
  respond = (res) => res.writeHead(200).end();
  await db.sql`delete from outbox`;
});

async function createOrg(webhook: { url?: string | null; secret?: string | null } = {}): Promise<string> {
  const uuid = randomUUID();
  const url = webhook.url === undefined ? hookUrl : webhook.url;
  await db.sql`insert into orgs (uuid, name, webhook_url, webhook_secret) values (${uuid}, 'Test', ${url}, ${webhook.secret ?? null})`;
  return uuid;
}

/** An outbox row due at `createdOn`, numbered for the feed as the FeedSequencer would; answers its feed id. */
async function insertEvent(orgUuid: string, createdOn = new Date(), data: Record<string, unknown> = { urn: 'tel:+250788383383' }): Promise<string> {
  const [row] = await db.sql<{ id: string }[]>`
    insert into outbox (org_uuid, type, data, created_on, next_attempt_at, seq)
    values (${orgUuid}, 'contact.stopped', ${db.sql.json(data as postgres.JSONValue)}, ${createdOn}, ${createdOn}, nextval(pg_get_serial_sequence('outbox', 'id')) + 1000000)
    returning seq::text as id`;
  return row!.id;
}

interface OutboxRow {
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  delivered_on: Date | null;
  failed_on: Date | null;
}

async function outboxRow(id: string): Promise<OutboxRow> {
  const [row] = await db.sql<OutboxRow[]>`
    select attempts, last_error, next_attempt_at, delivered_on, failed_on from outbox where seq = ${id}::bigint`;
  return row!;
}

function dispatcher(opts: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher & { delivered: string[]; failed: [string, boolean][] } {
  const delivered: string[] = [];
  const failed: [string, boolean][] = [];
  const d = new WebhookDispatcher({
    sql: db.sql,
    logger: testLogger,
    onDelivered: (org) => delivered.push(org),
    onFailed: (org, final) => failed.push([org, final]),
    ...opts,
  });
  return Object.assign(d, { delivered, failed });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('WebhookDispatcher', () => {
  it('posts the event as JSON with a signature the receiver can check', async () => {
    const org = await createOrg({ secret: 'whsec_test' });
    const createdOn = new Date(Date.now() - 1_234);
    const id = await insertEvent(org, createdOn, { urn: 'tel:+250788383383', reason: 'keyword' });
    const d = dispatcher();

    const before = Math.floor(Date.now() / 1000);
    expect(await d.deliverDue()).toBe(1);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({
      id,
      type: 'contact.stopped',
      created_on: createdOn.toISOString(),
      data: { urn: 'tel:+250788383383', reason: 'keyword' },
    });
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request!.headers['x-herald-signature']));
    expect(match).not.toBeNull();
    const t = Number(match![1]);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(match![2]).toBe(createHmac('sha256', 'whsec_test').update(`${t}.${request!.body}`).digest('hex'));

    const row = await outboxRow(id);
    expect(row).toMatchObject({ attempts: 1, last_error: null, failed_on: null });
    expect(row.delivered_on).toBeInstanceOf(Date);
    expect(d.delivered).toEqual([org]);
    expect(await d.deliverDue()).toBe(0);
    expect(received).toHaveLength(1);
  });

  it('sends no signature header when the org has a URL but no secret', async () => {
    const org = await createOrg({ secret: null });
    const id = await insertEvent(org);

    expect(await dispatcher().deliverDue()).toBe(1);

    expect(received).toHaveLength(1);
    expect(received[0]!.headers).not.toHaveProperty('x-herald-signature');
    expect((await outboxRow(id)).delivered_on).toBeInstanceOf(Date);
  });

  it('delivers the oldest events first', async () => {
    const org = await createOrg({ secret: 's' });
    const start = Date.now() - 10_000;
    const ids: string[] = [];
    for (const offset of [3, 1, 2, 0]) ids[offset] = await insertEvent(org, new Date(start + offset * 1000));

    expect(await dispatcher({ concurrency: 1 }).deliverDue()).toBe(4);

    expect(received.map((r) => JSON.parse(r.body).id)).toEqual(ids);
  });

  it('retries after a 500 with back-off, recording the attempt and what the endpoint said', async () => {
    const org = await createOrg({ secret: 's' });
    const t0 = new Date();
    const id = await insertEvent(org, t0);
    respond = (res) => res.writeHead(500).end(`database exploded\n${'x'.repeat(300)}`);
    const d = dispatcher({ now: () => t0 });

    expect(await d.deliverDue()).toBe(0);

    const failed = await outboxRow(id);
    expect(failed).toMatchObject({ attempts: 1, delivered_on: null, failed_on: null });
    expect(failed.last_error).toBe(`HTTP 500: database exploded ${'x'.repeat(182)}`);
    expect(failed.next_attempt_at.getTime()).toBeGreaterThanOrEqual(t0.getTime() + 7_500);
    expect(failed.next_attempt_at.getTime()).toBeLessThanOrEqual(t0.getTime() + 10_000);
    expect(d.failed).toEqual([[org, false]]);

    // Not due before its back-off ends; delivered once it has.
    expect(await d.deliverDue()).toBe(0);
    expect(received).toHaveLength(1);
    respond = (res) => res.writeHead(204).end();
    const later = dispatcher({ now: () => new Date(t0.getTime() + 10_001) });
    expect(await later.deliverDue()).toBe(1);
    expect(received).toHaveLength(2);
    expect(await outboxRow(id)).toMatchObject({ attempts: 2, last_error: null, failed_on: null });
  });

  it('counts an endpoint that does not answer in time as a failed attempt', async () => {
    const org = await createOrg({ secret: 's' });
    const id = await insertEvent(org);
    respond = () => {};

    const started = Date.now();
    expect(await dispatcher({ timeoutMs: 200 }).deliverDue()).toBe(0);

    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await outboxRow(id)).toMatchObject({ attempts: 1, last_error: 'timeout after 200 ms', delivered_on: null, failed_on: null });
  });

  it('counts a refused connection as a failed attempt', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const org = await createOrg({ url: `http://127.0.0.1:${port}/hook`, secret: 's' });
    const id = await insertEvent(org);

    expect(await dispatcher().deliverDue()).toBe(0);

    const row = await outboxRow(id);
    expect(row).toMatchObject({ attempts: 1, delivered_on: null, failed_on: null });
    expect(row.last_error).toMatch(/^network error: .*ECONNREFUSED/);
  });

  it('gives an event up when its next retry would come more than 24 h after it was created', async () => {
    const org = await createOrg({ secret: 's' });
    const now = new Date();
    const id = await insertEvent(org, new Date(now.getTime() - DAY_MS + 5_000));
    respond = (res) => res.writeHead(503).end();
    const d = dispatcher({ now: () => now });

    expect(await d.deliverDue()).toBe(0);

    expect(await outboxRow(id)).toMatchObject({ attempts: 1, last_error: 'HTTP 503', delivered_on: null, failed_on: now });
    expect(d.failed).toEqual([[org, true]]);
    const muchLater = dispatcher({ now: () => new Date(now.getTime() + DAY_MS) });
    expect(await muchLater.deliverDue()).toBe(0);
    expect(received).toHaveLength(1);
  });

  it('gives up without a request the events that come due after their deadline', async () => {
    const org = await createOrg({ secret: 's' });
    const now = new Date();
    const longAgo = new Date(now.getTime() - DAY_MS - 60_000);
    const neverTried = await insertEvent(org, longAgo);
    const leaseRanOut = await insertEvent(org, longAgo);
    await db.sql`update outbox set attempts = 2, last_error = 'HTTP 502' where seq = ${leaseRanOut}::bigint`;
    const fresh = await insertEvent(org, now);
    const d = dispatcher({ now: () => now });

    expect(await d.deliverDue()).toBe(1);

    expect(received.map((r) => JSON.parse(r.body).id)).toEqual([fresh]);
    expect(await outboxRow(neverTried)).toMatchObject({ attempts: 0, last_error: 'not attempted before its delivery deadline', failed_on: now });
    expect(await outboxRow(leaseRanOut)).toMatchObject({ attempts: 2, last_error: 'HTTP 502', failed_on: now });
    expect(d.failed).toEqual([[org, true]]);
  });

  it('leaves the events of orgs without a webhook URL for the feed', async () => {
    const withoutUrl = await createOrg({ url: null });
    const emptyUrl = await createOrg({ url: '' });
    const withUrl = await createOrg({ secret: 's' });
    const createdOn = new Date(Date.now() - 1_000);
    const kept = [await insertEvent(withoutUrl, createdOn), await insertEvent(emptyUrl, createdOn)];
    const sent = await insertEvent(withUrl, createdOn);
    const d = dispatcher();

    expect(await d.deliverDue()).toBe(1);

    expect(received.map((r) => JSON.parse(r.body).id)).toEqual([sent]);
    for (const id of kept) {
      expect(await outboxRow(id)).toEqual({ attempts: 0, last_error: null, next_attempt_at: createdOn, delivered_on: null, failed_on: null });
    }
    expect(d.failed).toEqual([]);
  });

  it('delivers each event exactly once when two dispatchers share the database', async () => {
    const org = await createOrg({ secret: 's' });
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) ids.add(await insertEvent(org));
    respond = (res) => setTimeout(() => res.writeHead(200).end(), 5);
    const otherSql = postgres(db.url, { max: 5, onnotice: () => {} });
    try {
      const a = dispatcher({ concurrency: 4 });
      const b = dispatcher({ sql: otherSql, concurrency: 4 });

      const counts = await Promise.all([a.deliverDue(), b.deliverDue(), a.deliverDue(), b.deliverDue()]);

      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(40);
      const sentIds = received.map((r) => JSON.parse(r.body).id as string);
      expect(sentIds).toHaveLength(40);
      expect(new Set(sentIds)).toEqual(ids);
      const [{ undelivered }] = await db.sql<[{ undelivered: number }]>`
        select count(*)::int as undelivered from outbox where delivered_on is null or attempts <> 1`;
      expect(undelivered).toBe(0);
    } finally {
      await otherSql.end();
    }
  });

  it('keeps polling without pauses while events are due', async () => {
    const org = await createOrg({ secret: 's' });
    for (let i = 0; i < 12; i++) await insertEvent(org);
    const d = dispatcher({ concurrency: 2, pollMs: 5_000 });

    d.start();
    try {
      await eventually('all delivered', () => received.length === 12, 2_000);
    } finally {
      await d.stop();
    }
    expect(d.delivered).toHaveLength(12);
  });

  it('stop() waits for the deliveries in flight, then sends nothing more', async () => {
    const org = await createOrg({ secret: 's' });
    const id = await insertEvent(org);
    let answer: (() => void) | undefined;
    respond = (res) => (answer = () => res.writeHead(200).end());
    const d = dispatcher({ pollMs: 20 });

    d.start();
    await eventually('request received', () => answer !== undefined, 2_000);
    let stopped = false;
    const stopping = d.stop().then(() => (stopped = true));
    await sleep(100);
    expect(stopped).toBe(false);
    answer!();
    await stopping;

    expect((await outboxRow(id)).delivered_on).toBeInstanceOf(Date);
    await insertEvent(org);
    await sleep(100);
    expect(received).toHaveLength(1);
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"id":"7","type":"contact.stopped","created_on":"2025-03-04T05:06:07.890Z","data":{}}';
  const now = new Date('2025-03-04T05:06:10Z');
  const t = Math.floor(now.getTime() / 1000) - 3;
  const header = signWebhook('whsec_test', body, t);

  it('accepts a header made with the secret over the body as received', () => {
    expect(header).toBe(`t=${t},v1=${createHmac('sha256', 'whsec_test').update(`${t}.${body}`).digest('hex')}`);
    expect(verifyWebhookSignature('whsec_test', body, header, { now })).toBe(true);
    expect(verifyWebhookSignature('whsec_test', Buffer.from(body), header, { now })).toBe(true);
    expect(verifyWebhookSignature('whsec_test', body, `t=${t},v1=${'0'.repeat(64)},v1=${header.split('v1=')[1]}`, { now })).toBe(true);
  });

  it('rejects a tampered body, a wrong secret, a stale timestamp and a malformed header', () => {
    expect(verifyWebhookSignature('whsec_test', body.replace('"7"', '"8"'), header, { now })).toBe(false);
    expect(verifyWebhookSignature('other_secret', body, header, { now })).toBe(false);
    const later = new Date(now.getTime() + 301_000);
    expect(verifyWebhookSignature('whsec_test', body, header, { now: later, toleranceSeconds: 300 })).toBe(false);
    expect(verifyWebhookSignature('whsec_test', body, header, { now: later, toleranceSeconds: 600 })).toBe(true);
    expect(verifyWebhookSignature('whsec_test', body, header.replace(`t=${t}`, `t=${t + 1}`), { now })).toBe(false);
    expect(verifyWebhookSignature('whsec_test', body, '', { now })).toBe(false);
    expect(verifyWebhookSignature('whsec_test', body, header.split(',')[1]!, { now })).toBe(false);
  });
});
