/**
 * A Herald process killed with SIGKILL in the middle of sending 200 messages; a new process on the
 * same storage finishes the job. What must hold (DESIGN §3): every message ends sent, none is
 * lost, and a message goes to the provider twice only if its send was in flight at the kill (its
 * row still claimed: the provider may have accepted it before the outcome was recorded).
 *
 * Two storage modes:
 * - Production: real Postgres and Redis. The test queues through its own PostgresBackend on the
 *   same database and Redis prefix, as a second Herald process would.
 * - Embedded default: PGlite in the data folder and the in-process queue, which dies with the
 *   process. The test queues through the embedded database before Herald starts and reads it
 *   after Herald stops (only one process may open it); the restarted Herald rebuilds its queue
 *   from the database at start-up.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../backends/memory/queue.js';
import { PostgresBackend } from '../../backends/postgres/backend.js';
import { startEmbeddedPostgres } from '../../backends/postgres/embedded.js';
import { migrate } from '../../backends/postgres/migrate.js';
import { RedisQueue } from '../../backends/redis/queue.js';
import type { ChannelFileEntry } from '../../config/config.js';
import type { Queue } from '../../src/queue.js';
import { startFakeProvider, type FakeProviderServer } from '../support/fake-provider.js';
import { deferredCleanups, eventually } from '../support/eventually.js';
import { startHeraldProcess, type HeraldProcess } from '../support/herald-process.js';
import { createTestDatabase } from '../support/pg.js';

const CHANNEL = '0191e180-7d60-7000-8000-0000000fa012';
const MESSAGES = 200;
const MAX_WORKERS = 16;
const LEASE_SECONDS = 5;
const REDIS_URL = process.env.HERALD_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** Cleanup steps of the running test, run in reverse even when the test fails. */
const defer = deferredCleanups();

/** A slow provider (a send takes 250 ms), so sends are in flight when the process dies. */
async function slowProvider(): Promise<FakeProviderServer> {
  const provider = await startFakeProvider({ delayMs: 250 });
  defer(() => provider.close());
  return provider;
}

/** How many times the provider was asked to send each message id. */
function sendsById(provider: FakeProviderServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const req of provider.requests) {
    const id = new URL(req.url, provider.url).searchParams.get('id')!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The External channel sending to `provider`, as the channels file gives it. */
function channelSendingTo(provider: FakeProviderServer): ChannelFileEntry {
  const config = { send_url: `${provider.url}/send?id={{id}}&to={{to}}&text={{text}}`, send_method: 'GET' };
  return { uuid: CHANNEL, type: 'ex', address: '+250788000000', country: 'RW', tps: 0, config };
}

/** Herald's settings: a temp folder for its data and spool, and a channels file with `channel`. */
async function heraldEnv(channel: ChannelFileEntry): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-fault-kill-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const channels = join(dir, 'channels.json');
  await writeFile(channels, JSON.stringify([channel]));
  return {
    HERALD_DATA_DIR: join(dir, 'data'),
    HERALD_SPOOL_DIR: join(dir, 'spool'),
    HERALD_CHANNELS_FILE: channels,
    HERALD_MAX_WORKERS: String(MAX_WORKERS),
    HERALD_SEND_LEASE_SECONDS: String(LEASE_SECONDS),
  };
}

async function start(env: Record<string, string>): Promise<HeraldProcess> {
  const herald = await startHeraldProcess(env);
  defer(() => herald.kill());
  return herald;
}

/** Queues `MESSAGES` messages on the channel through `backend`; answers their uuids. */
async function queueMessages(backend: PostgresBackend): Promise<string[]> {
  const channel = await backend.getChannel(CHANNEL);
  if (!channel) throw new Error(`channel ${CHANNEL} is not in the database`);
  const uuids: string[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const msg = await backend.queueOutgoing({ channel, urn: 'tel:+250788383383', text: `message ${i}`, priority: 'bulk' });
    uuids.push(msg.uuid);
  }
  return uuids;
}

/** The test's own store on Herald's database: a long reconciler interval, so only Herald reconciles. */
function testBackend(url: string, queue: Queue): Promise<PostgresBackend> {
  return PostgresBackend.create({ sql: postgres(url, { max: 4, onnotice: () => {} }), queue, reconciler: { intervalMs: 3_600_000 } });
}

/**
 * Messages by status, and how many are claimed by a send that has not recorded its outcome: with
 * no Herald running, the sends that were in flight when it died.
 */
async function census(sql: postgres.Sql): Promise<{ statuses: Record<string, number>; leased: number }> {
  const rows = await sql<Array<{ status: string; n: number }>>`
    select status, count(*)::int as n from msgs where direction = 'out' group by status`;
  const [leased] = await sql<Array<{ n: number }>>`
    select count(*)::int as n from msgs where direction = 'out' and status in ('queued', 'errored') and lease_until is not null`;
  return { statuses: Object.fromEntries(rows.map((r) => [r.status, r.n])), leased: leased!.n };
}

/**
 * Every message reached the provider, every row ended sent, and the only repeats are sends that
 * were in flight at the kill, of which there were some (or the kill was not mid-way).
 */
function expectRecovered(queued: string[], provider: FakeProviderServer, statuses: Record<string, number>, leasedAtKill: number): void {
  expect(statuses).toEqual({ wired: MESSAGES });
  const sends = sendsById(provider);
  expect([...sends.keys()].sort()).toEqual([...queued].sort());
  const duplicates = provider.requests.length - sends.size;
  expect(leasedAtKill).toBeGreaterThan(0);
  // The sends under way, and outcomes being recorded after their worker moved on: at most one each.
  expect(leasedAtKill).toBeLessThanOrEqual(2 * MAX_WORKERS);
  expect(duplicates).toBeLessThanOrEqual(leasedAtKill);
}

describe('a send whose process died after its provider accepted it', () => {
  it('is recorded wired when popped again, not sent again', async () => {
    const db = await createTestDatabase();
    defer(() => db.drop());
    let clock = Date.now();
    const queue = new MemoryQueue({ now: () => clock, leaseMs: 1_000 });
    const backend = await PostgresBackend.create({
      sql: postgres(db.url, { max: 2, onnotice: () => {} }),
      queue,
      leaseMs: 1_000,
      now: () => new Date(clock),
      reconciler: { intervalMs: 3_600_000 },
    });
    defer(() => backend.close());
    await backend.upsertChannels([{ uuid: CHANNEL, type: 'ex', address: '+250788000000', country: 'RW', config: { send_url: 'http://127.0.0.1:9/send' } }]);
    const msg = await backend.queueOutgoing({ channel: (await backend.getChannel(CHANNEL))!, urn: 'tel:+250788383383', text: 'hi' });

    // The Sender claimed it, the provider accepted it, the marker was set; then the process died.
    expect((await backend.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
    await queue.markSent(msg.uuid, 3_600_000);
    clock += 2_000;
    expect(await backend.reconciler.pass('periodic')).toEqual({ released: 1, pushed: 1 });

    expect(await backend.popNextOutgoing()).toBeNull();
    const history = await db.sql`select status from msg_status_history where msg_uuid = ${msg.uuid} order by id`;
    expect(history.map((h) => h.status)).toEqual(['queued', 'wired']);
    const logs = await db.sql`select errors from channel_logs where msg_uuid = ${msg.uuid}`;
    expect(JSON.stringify(logs.map((l) => l.errors))).toContain('outcome_lost');
  });
});

describe('Herald killed with SIGKILL while sending', () => {
  it('with Postgres and Redis: a new process sends the rest, repeating only the sends in flight', async () => {
    const provider = await slowProvider();
    const env = await heraldEnv(channelSendingTo(provider));
    const db = await createTestDatabase();
    defer(() => db.drop());
    const prefix = `herald_test_kill_${process.pid}_${Date.now()}`;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    defer(async () => {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    const storage = { ...env, HERALD_DATABASE_URL: db.url, HERALD_REDIS_URL: REDIS_URL, HERALD_REDIS_PREFIX: prefix };

    const first = await start(storage);
    const backend = await testBackend(db.url, new RedisQueue({ redis, prefix: `${prefix}:` }));
    defer(() => backend.close());
    const queued = await queueMessages(backend);

    await eventually('a third of the messages sent', () => provider.requests.length >= MESSAGES / 3);
    await first.kill();
    const atKill = await census(db.sql);
    const sentBeforeRestart = provider.requests.length;
    expect(atKill.statuses.wired ?? 0).toBeLessThan(MESSAGES);

    // Restarted at once, as a supervisor would: the sends in flight at the kill are still claimed.
    // When their leases end the queue hands them out again by itself; the reconciler's periodic
    // pass (every 60 s by default) is not what recovers them within this test's time.
    await start(storage);
    await eventually('every message sent', async () => (await census(db.sql)).statuses.wired === MESSAGES);

    expect(provider.requests.length).toBeGreaterThan(sentBeforeRestart);
    expectRecovered(queued, provider, (await census(db.sql)).statuses, atKill.leased);
  }, 60_000);

  it('embedded (PGlite, in-process queue): the restarted process rebuilds its queue from the database', async () => {
    const provider = await slowProvider();
    const channel = channelSendingTo(provider);
    const env = await heraldEnv(channel);
    const dbDir = join(env.HERALD_DATA_DIR!, 'db');

    /** Opens the embedded database while no Herald runs, as Herald itself does. */
    const withDatabase = async <T>(use: (url: string, sql: postgres.Sql) => Promise<T>): Promise<T> => {
      const pg = await startEmbeddedPostgres({ dataDir: dbDir });
      const sql = postgres(pg.url, { max: 4, onnotice: () => {} });
      try {
        return await use(pg.url, sql);
      } finally {
        await sql.end({ timeout: 5 });
        await pg.close();
      }
    };

    const queued = await withDatabase(async (url, sql) => {
      await migrate(sql);
      const backend = await testBackend(url, new MemoryQueue());
      try {
        await backend.upsertChannels([channel]);
        return await queueMessages(backend);
      } finally {
        await backend.close();
      }
    });

    const first = await start(env);
    await eventually('a third of the messages sent', () => provider.requests.length >= MESSAGES / 3);
    await first.kill();
    const sentBeforeRestart = provider.requests.length;
    const [atKill, until] = await withDatabase(async (_, sql) => {
      const [{ until }] = await sql<[{ until: Date | null }]>`select max(lease_until) as until from msgs`;
      return [await census(sql), until] as const;
    });
    expect(atKill.statuses.wired ?? 0).toBeLessThan(MESSAGES);
    await eventually('the killed process\'s claims lapsed', () => until === null || Date.now() > until.getTime() + 100, (LEASE_SECONDS + 2) * 1000);

    const second = await start(env);
    await eventually('every message sent', () => sendsById(provider).size === MESSAGES);
    // A graceful stop records the sends still in flight before the database is read.
    expect(await second.stop()).toBe(0);

    expect(provider.requests.length).toBeGreaterThan(sentBeforeRestart);
    expectRecovered(queued, provider, (await withDatabase((_, sql) => census(sql))).statuses, atKill.leased);
  }, 60_000);
});
