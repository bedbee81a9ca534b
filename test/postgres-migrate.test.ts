import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../backends/postgres/migrate.js';

const SERVER = process.env.HERALD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

describe('migrate', () => {
  const name = `herald_test_${randomBytes(6).toString('hex')}`;
  let a: postgres.Sql;
  let b: postgres.Sql;

  beforeAll(async () => {
    const admin = postgres(`${SERVER}/postgres`, { max: 1 });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    a = postgres(`${SERVER}/${name}`, { max: 2, onnotice: () => {} });
    b = postgres(`${SERVER}/${name}`, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await a?.end();
    await b?.end();
    const admin = postgres(`${SERVER}/postgres`, { max: 1 });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  const MIGRATIONS = ['0001_initial.sql', '0002_fewer_foreign_keys.sql', '0003_webhook_delivery.sql', '0004_api.sql', '0005_event_feed_order.sql', '0006_hot_claims.sql', '0007_drop_outbox_org.sql', '0008_drop_channel_logs_created.sql', '0009_feed_seq_unique_per_org.sql'];

  it('applies each file once when two processes start together, then nothing', async () => {
    const [first, second] = await Promise.all([migrate(a), migrate(b)]);
    expect([...first, ...second].sort()).toEqual(MIGRATIONS);
    expect(await migrate(a)).toEqual([]);
    expect(await a`select name from schema_migrations order by name`).toEqual(MIGRATIONS.map((name) => ({ name })));
    expect(await a`select uuid from orgs`).toEqual([{ uuid: '00000000-0000-4000-8000-000000000000' }]);
  });
});
