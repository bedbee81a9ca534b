import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../backends/postgres/embedded.js';

const root = mkdtempSync(join(tmpdir(), 'herald-embedded-pg-'));
let pg: EmbeddedPostgres;
let sql: postgres.Sql;

beforeAll(async () => {
  pg = await startEmbeddedPostgres({ dataDir: join(root, 'main') });
  sql = postgres(pg.url, { max: 10, onnotice: () => undefined });
}, 120_000);

afterAll(async () => {
  await sql?.end();
  await pg?.close();
  rmSync(root, { recursive: true, force: true });
}, 120_000);

describe('embedded Postgres over the wire', () => {
  it('runs prepared statements with text, int, bigint, jsonb, timestamptz, uuid and text[] parameters', async () => {
    await sql`create table typed (
      t text, i int, b bigint, j jsonb, at timestamptz, u uuid, tags text[])`;
    const at = new Date('2024-05-06T07:08:09.123Z');
    const rows = [
      { t: 'héllo', i: 42, b: '9007199254740993', j: { a: [1, 'x'] }, u: '0190d8b4-6f5c-7cc1-9a3a-0123456789ab', tags: ['a', 'b c'] },
      { t: 'second', i: -1, b: '1', j: { nested: { ok: true } }, u: '0190d8b4-6f5c-7cc1-9a3a-ba9876543210', tags: [] },
    ];
    for (const row of rows) {
      await sql`insert into typed values (
        ${row.t}, ${row.i}, ${row.b}::bigint, ${sql.json(row.j)}, ${at}, ${row.u}::uuid, ${row.tags}::text[])`;
    }
    const back = await sql`select * from typed where i = any(${[42, -1]}::int[]) order by i desc`;
    expect(back.map((r) => ({ ...r }))).toEqual(rows.map((row) => ({ ...row, at })));
  });

  it('answers 50 concurrent queries over 10 connections, each with its own result', async () => {
    const big = 'x'.repeat(200_000);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, n) =>
        n % 5 === 0
          ? sql`select ${n}::int as n, length(${big + n}::text) as len`
          : sql`select ${n}::int as n, ${`text ${n}`}::text as label`,
      ),
    );
    answers.forEach((rows, n) =>
      expect(rows[0]).toEqual(n % 5 === 0 ? { n, len: 200_000 + String(n).length } : { n, label: `text ${n}` }),
    );
  });

  it('never runs one connection\'s statements inside another connection\'s extended-protocol exchange', async () => {
    const raw = await RawClient.connect(pg.url);
    raw.send(parse("select 'from the raw client' as v"), bind());
    await raw.waitFor(BIND_COMPLETE);
    const other = sql`select ${'from the pool'}::text as v`;
    await new Promise((resolve) => setTimeout(resolve, 100));
    raw.send(execute(), sync());
    await raw.waitFor(READY_FOR_QUERY);
    expect(raw.received).toContain('from the raw client');
    expect(raw.received).not.toContain('ERROR');
    expect(await other).toEqual([{ v: 'from the pool' }]);
    raw.close();
  });

  it('serialises concurrent transactions: a rolled-back one leaves nothing, the other is seen whole', async () => {
    await sql`create table ledger (who text, n int)`;
    const seenByRolledBack: number[] = [];
    const committed = sql.begin(async (tx) => {
      await tx`insert into ledger values ('committed', 1)`;
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx`insert into ledger values ('committed', 2)`;
    });
    const rolledBack = sql.begin(async (tx) => {
      const [row] = await tx`select count(*)::int as n from ledger`;
      seenByRolledBack.push(row!.n);
      await tx`insert into ledger values ('rolled back', 1)`;
      throw new Error('roll back');
    });
    await committed;
    await expect(rolledBack).rejects.toThrow('roll back');
    expect(await sql`select who, n from ledger order by n`).toEqual([
      { who: 'committed', n: 1 },
      { who: 'committed', n: 2 },
    ]);
    expect([0, 2]).toContain(seenByRolledBack[0]);
  });

  it('rolls back what a client left open when it disconnected, and serves the others again', async () => {
    await sql`create table abandoned (n int)`;
    const client = postgres(pg.url, { max: 1 });
    const reserved = await client.reserve();
    await reserved`begin`;
    await reserved`insert into abandoned values (1)`;
    await client.end({ timeout: 0 });
    expect(await sql`select count(*)::int as n from abandoned`).toEqual([{ n: 0 }]);
  });

  it('bulk inserts with unnest($1::text[], $2::int[])', async () => {
    await sql`create table bulk (name text, n int)`;
    const names = Array.from({ length: 500 }, (_, n) => `name-${n}`);
    const numbers = names.map((_, n) => n);
    await sql`insert into bulk select * from unnest(${names}::text[], ${numbers}::int[])`;
    expect(await sql`select count(*)::int as rows, sum(n)::int as total from bulk`).toEqual([
      { rows: 500, total: (499 * 500) / 2 },
    ]);
  });

  it('takes and releases pg_advisory_lock', async () => {
    await sql`select pg_advisory_lock(4242)`;
    const [held] = await sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4242`;
    expect(held).toEqual({ n: 1 });
    expect(await sql`select pg_advisory_unlock(4242) as released`).toEqual([{ released: true }]);
  });

  it('returns nothing from insert … on conflict do nothing for a duplicate', async () => {
    await sql`create table once (id text primary key)`;
    expect(await sql`insert into once values ('a') on conflict do nothing returning id`).toEqual([{ id: 'a' }]);
    expect(await sql`insert into once values ('a') on conflict do nothing returning id`).toEqual([]);
  });

  it('claims rows with for update skip locked', async () => {
    await sql`create table jobs (id int primary key, claimed boolean not null default false)`;
    await sql`insert into jobs (id) select generate_series(1, 5)`;
    const claimed = await sql.begin(async (tx) => {
      const rows = await tx`select id from jobs where not claimed order by id limit 2 for update skip locked`;
      await tx`update jobs set claimed = true where id = any(${rows.map((r) => r.id as number)}::int[])`;
      return rows.map((r) => r.id as number);
    });
    expect(claimed).toEqual([1, 2]);
    expect(await sql`select count(*)::int as n from jobs where not claimed`).toEqual([{ n: 3 }]);
  });
});

describe('embedded Postgres data dir', () => {
  it('keeps data across close and restart, and refuses connections over maxConnections', async () => {
    const dataDir = join(root, 'restart');
    const first = await startEmbeddedPostgres({ dataDir });
    const writer = postgres(first.url, { max: 2 });
    await writer`create table kept (v text)`;
    await writer`insert into kept values ('survives')`;
    await writer.end();
    await first.close();

    const second = await startEmbeddedPostgres({ dataDir, maxConnections: 1 });
    const one = postgres(second.url, { max: 1 });
    const two = postgres(second.url, { max: 1 });
    try {
      expect(await one`select v from kept`).toEqual([{ v: 'survives' }]);
      await expect(two`select 1`).rejects.toThrow(/too many connections/);
    } finally {
      await one.end();
      await two.end({ timeout: 0 });
      await second.close();
    }
  }, 120_000);

  it('refuses a second instance on a data dir in use, and takes over the lock of a dead process', async () => {
    await expect(startEmbeddedPostgres({ dataDir: join(root, 'main') })).rejects.toThrow('is already in use by this process');

    const dataDir = join(root, 'stale');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    await startEmbeddedPostgres({ dataDir }).then((instance) => instance.close());
    writeFileSync(join(dataDir, 'embedded-postgres.lock'), `${deadPid}\n`);
    const revived = await startEmbeddedPostgres({ dataDir });
    await revived.close();

    // A container restarted after a kill runs as the same pid on the same host name: the lock
    // its earlier life left names this process, which does not hold it.
    writeFileSync(join(dataDir, 'embedded-postgres.lock'), `${process.pid} ${hostname()}\n`);
    const restarted = await startEmbeddedPostgres({ dataDir });
    await restarted.close();
  }, 120_000);
});

const BIND_COMPLETE = '2\u0000\u0000\u0000\u0004';
const READY_FOR_QUERY = 'Z\u0000\u0000\u0000\u0005';

/** Speaks just enough of the wire protocol to send an extended-protocol exchange in pieces. */
class RawClient {
  received = '';
  private readonly waiters: Array<{ type: string; resolve: () => void }> = [];

  private constructor(private readonly socket: import('node:net').Socket) {
    socket.on('data', (data) => {
      this.received += data.toString('latin1');
      for (const waiter of [...this.waiters]) {
        if (this.received.includes(waiter.type)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    });
  }

  static async connect(url: string): Promise<RawClient> {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = new RawClient(socket);
    const body = Buffer.concat([int32(196608), cStrings('user', 'postgres', 'database', 'postgres', '')]);
    socket.write(Buffer.concat([int32(body.length + 4), body]));
    await client.waitFor(READY_FOR_QUERY);
    client.received = '';
    return client;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  waitFor(type: string): Promise<void> {
    if (this.received.includes(type)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  close(): void {
    this.socket.destroy();
  }
}

function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}
const parse = (query: string) => message('P', cStrings('', query), int16(0));
const bind = () => message('B', cStrings('', ''), int16(0), int16(0), int16(0));
const execute = () => message('E', cStrings(''), int32(0));
const sync = () => message('S');

function cStrings(...values: string[]): Buffer {
  return Buffer.from(values.map((value) => `${value}\0`).join(''));
}
function int16(n: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(n);
  return buffer;
}
function int32(n: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(n);
  return buffer;
}
