/**
 * Redis cut while Herald is sending (DESIGN §3: the database row is the source of truth, the
 * queue only a scheduler). Herald reaches Redis through a TCP proxy that the test cuts and heals;
 * Postgres stays up. The test queues through its own PostgresBackend on the same database, with
 * its Redis client behind the same proxy, as a second Herald process would: while the cut lasts,
 * its pushes fail and the rows are left for Herald's reconciler.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { PostgresBackend } from '../../backends/postgres/backend.js';
import { RedisQueue } from '../../backends/redis/queue.js';
import type { Channel } from '../../src/channel.js';
import { startFakeProvider, type FakeProviderServer } from '../support/fake-provider.js';
import { deferredCleanups, eventually } from '../support/eventually.js';
import { startHeraldProcess, type HeraldProcess } from '../support/herald-process.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const CHANNEL = '0191e180-7d60-7000-8000-0000000fa013';
const BEFORE_CUT = 200;
const DURING_CUT = 20;
const MAX_WORKERS = 8;
const REDIS_URL = process.env.HERALD_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** Cleanup steps of the running test, run in reverse even when the test fails. */
const defer = deferredCleanups();

interface Setup {
  db: TestDatabase;
  proxy: TcpProxy;
  prefix: string;
  /** A Redis client through the proxy, as Herald's own is. */
  redis: Redis;
}

/** A fresh database, a proxy in front of the shared Redis, and a key prefix deleted afterwards. */
async function setup(): Promise<Setup> {
  const db = await createTestDatabase();
  defer(() => db.drop());
  const target = new URL(REDIS_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  defer(() => proxy.close());
  const prefix = `herald_test_redis_cut_${process.pid}_${Date.now()}`;
  defer(async () => {
    const direct = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const keys = await direct.keys(`${prefix}:*`);
      if (keys.length > 0) await direct.del(...keys);
    } finally {
      direct.disconnect();
    }
  });
  // As Herald builds its own (src/main.ts): a failed command rejects after one reconnect attempt.
  const redis = new Redis(proxy.url(REDIS_URL), { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  redis.on('error', () => {});
  defer(async () => redis.disconnect());
  return { db, proxy, prefix, redis };
}

/** The test's own store: a long reconciler interval, so only Herald reconciles. */
async function testBackend({ db, redis, prefix }: Setup): Promise<PostgresBackend> {
  const backend = await PostgresBackend.create({
    sql: postgres(db.url, { max: 4, onnotice: () => {} }),
    queue: new RedisQueue({ redis, prefix: `${prefix}:` }),
    reconciler: { intervalMs: 3_600_000 },
  });
  defer(() => backend.close());
  return backend;
}

/** Queues `count` messages, ten at a time (as concurrent API requests would); answers their uuids. */
async function queueMessages(backend: PostgresBackend, channel: Channel, count: number, label: string): Promise<string[]> {
  const uuids: string[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) =>
      backend.queueOutgoing({ channel, urn: 'tel:+250788383383', text: `${label} ${i + j}`, priority: 'bulk' }),
    );
    uuids.push(...(await Promise.all(batch)).map((msg) => msg.uuid));
  }
  return uuids;
}

/** How many times the provider was asked to send each message id. */
function sendsById(requests: FakeProviderServer['requests'], base: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const req of requests) {
    const id = new URL(req.url, base).searchParams.get('id')!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const statusCounts = (sql: postgres.Sql) =>
  sql<Array<{ status: string; n: number }>>`select status, count(*)::int as n from msgs where direction = 'out' group by status`.then(
    (rows) => Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>,
  );

const liveLeases = (sql: postgres.Sql) =>
  sql<[{ n: number }]>`select count(*)::int as n from msgs where direction = 'out' and status in ('queued', 'errored') and lease_until > now()`.then(
    ([row]) => row.n,
  );

describe('Redis cut while Herald sends', () => {
  it('keeps Herald up and sends every message once, those queued during the cut after it heals', async () => {
    const env = await setup();
    const { db, proxy } = env;
    const provider = await startFakeProvider({ delayMs: 100 });
    defer(() => provider.close());
    const dir = await mkdtemp(join(tmpdir(), 'herald-fault-redis-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const channels = join(dir, 'channels.json');
    const config = { send_url: `${provider.url}/send?id={{id}}&to={{to}}&text={{text}}`, send_method: 'GET' };
    await writeFile(channels, JSON.stringify([{ uuid: CHANNEL, type: 'ex', address: '+250788000000', country: 'RW', tps: 0, config }]));

    const herald: HeraldProcess = await startHeraldProcess({
      HERALD_DATABASE_URL: db.url,
      HERALD_REDIS_URL: proxy.url(REDIS_URL),
      HERALD_REDIS_PREFIX: env.prefix,
      HERALD_DATA_DIR: join(dir, 'data'),
      HERALD_SPOOL_DIR: join(dir, 'spool'),
      HERALD_CHANNELS_FILE: channels,
      HERALD_MAX_WORKERS: String(MAX_WORKERS),
      HERALD_SEND_LEASE_SECONDS: '5',
      HERALD_RECONCILE_SECONDS: '1',
    });
    defer(() => herald.kill());
    const logged = (msg: string, after = 0) => herald.logs.slice(after).some((l) => l.msg === msg);

    const backend = await testBackend(env);
    const channel = (await backend.getChannel(CHANNEL))!;
    const queued = await queueMessages(backend, channel, BEFORE_CUT, 'before the cut');

    await eventually('sending under way', () => provider.requests.length >= BEFORE_CUT / 4);
    proxy.cut();
    const inFlightAtCut = await liveLeases(db.sql);
    const logsAtCut = herald.logs.length;

    // Queued while the cut lasts: stored, the push fails, the row waits for the reconciler.
    const queuedDuringCut = await queueMessages(backend, channel, DURING_CUT, 'during the cut');
    const [waiting] = await db.sql<[{ n: number }]>`select count(*)::int as n from msgs where uuid = any(${queuedDuringCut}::uuid[]) and status = 'queued'`;
    expect(waiting.n).toBe(DURING_CUT);

    // The cut lasts until Herald has felt it on every path and recorded the sends it had in flight.
    await eventually('the Foreman could not pop', () => logged('could not pop the next outgoing messages', logsAtCut));
    await eventually('a reconciler pass failed', () => logged('reconciler pass failed', logsAtCut));
    await eventually('the sends in flight at the cut recorded', async () => (await liveLeases(db.sql)) === 0);
    const sentBeforeHeal = provider.requests.length;
    proxy.heal();

    const all = [...queued, ...queuedDuringCut];
    await eventually('every message sent', async () => (await statusCounts(db.sql)).wired === all.length);

    expect(herald.child.exitCode).toBeNull();
    const health = await fetch(`${herald.baseUrl}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { checks: Record<string, string> }).checks).toMatchObject({ redis: 'ok', queue: 'ok' });
    expect(await statusCounts(db.sql)).toEqual({ wired: all.length });

    const sends = sendsById(provider.requests, provider.url);
    expect([...sends.keys()].sort()).toEqual([...all].sort());
    const afterHeal = sendsById(provider.requests.slice(sentBeforeHeal), provider.url);
    expect(queuedDuringCut.every((uuid) => afterHeal.has(uuid))).toBe(true);
    // Only a send in flight at the cut could go out twice; and since Postgres stayed up, each of
    // those outcomes was recorded despite the cut, so none did.
    // Claimed at the cut: the sends under way and the outcomes being recorded, at most a worker's worth each.
    expect(inFlightAtCut).toBeGreaterThan(0);
    expect(inFlightAtCut).toBeLessThanOrEqual(2 * MAX_WORKERS);
    expect(provider.requests.length - sends.size).toBe(0);
  }, 60_000);
});

describe('a send whose provider accepted it while Redis is cut', () => {
  it('is recorded in the database although its sent marker cannot be set nor its token finished', async () => {
    const env = await setup();
    const backend = await testBackend(env);
    await backend.upsertChannels([{ uuid: CHANNEL, type: 'ex', address: '+250788000000', country: 'RW', config: { send_url: 'http://127.0.0.1:9/send' } }]);
    const msg = await backend.queueOutgoing({ channel: (await backend.getChannel(CHANNEL))!, urn: 'tel:+250788383383', text: 'hi' });
    const job = (await backend.popNextOutgoing())!;
    expect(job.msg.uuid).toBe(msg.uuid);

    env.proxy.cut();
    const log = { uuid: uuidv7(), type: 'msg_send' as const, channelUuid: CHANNEL, msgUuid: msg.uuid, httpLogs: [], errors: [], isError: false, elapsedMs: 5, createdOn: new Date() };
    // Finishing the queue token fails too, which is no failure of the send: its lease ends it.
    await backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: ['ext-1'] }, log);

    const [row] = await env.db.sql`select status, external_id, lease_until from msgs where uuid = ${msg.uuid}`;
    expect(row).toEqual({ status: 'wired', external_id: 'ext-1', lease_until: null });
  });
});
