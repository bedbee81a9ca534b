import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const PG_SERVER = 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = 'redis://127.0.0.1:6379';
const suffix = randomBytes(6).toString('hex');
const database = `herald_test_tcp_proxy_${suffix}`;
const keyPrefix = `herald-test-tcp-proxy-${suffix}:`;

let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let sql: postgres.Sql;
let redis: Redis;

beforeAll(async () => {
  const admin = postgres(`${PG_SERVER}/postgres`, { max: 1 });
  await admin.unsafe(`create database ${database}`);
  await admin.end();
  pgProxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
  redisProxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
  sql = postgres(pgProxy.url(`${PG_SERVER}/${database}`), { max: 2, connect_timeout: 2 });
  redis = new Redis(redisProxy.url(REDIS_URL), {
    keyPrefix,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 50,
    lazyConnect: true,
  });
  redis.on('error', () => undefined);
  await redis.connect();
});

afterAll(async () => {
  pgProxy.heal();
  redisProxy.heal();
  await sql?.end({ timeout: 1 });
  if (redis) {
    await waitUntilReady(redis);
    await redis.del('greeting');
    redis.disconnect();
  }
  await pgProxy?.close();
  await redisProxy?.close();
  const admin = postgres(`${PG_SERVER}/postgres`, { max: 1 });
  await admin.unsafe(`drop database if exists ${database} with (force)`);
  await admin.end();
});

describe('tcp proxy', () => {
  it('rewrites only the host and port of a URL', () => {
    expect(pgProxy.url('postgres://user:secret@db.example:6543/herald?sslmode=disable')).toBe(
      `postgres://user:secret@127.0.0.1:${pgProxy.port}/herald?sslmode=disable`,
    );
    expect(redisProxy.url('redis://localhost:6379/2')).toBe(`redis://127.0.0.1:${redisProxy.port}/2`);
  });

  it('carries Postgres and Redis traffic both ways', async () => {
    const big = 'y'.repeat(300_000);
    await sql`create table echo (v text)`;
    await sql`insert into echo values (${big})`;
    expect(await sql`select length(v)::int as n, v = ${big} as same from echo`).toEqual([{ n: 300_000, same: true }]);

    expect(await redis.ping()).toBe('PONG');
    await redis.set('greeting', big);
    expect(await redis.get('greeting')).toBe(big);
    expect(pgProxy.connections()).toBeGreaterThanOrEqual(1);
    expect(redisProxy.connections()).toBe(1);
  });

  it('makes queries fail promptly while cut, and work again once healed', async () => {
    await sql`select 1`;
    pgProxy.cut();
    redisProxy.cut();
    expect(pgProxy.connections()).toBe(0);
    expect(redisProxy.connections()).toBe(0);

    const started = Date.now();
    await expect(sql`select 1`).rejects.toThrow();
    await expect(redis.ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);

    pgProxy.heal();
    redisProxy.heal();
    expect(await sql`select 2 as n`).toEqual([{ n: 2 }]);
    await waitUntilReady(redis);
    expect(await redis.ping()).toBe('PONG');
  });
});

function waitUntilReady(client: Redis): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()));
}
