import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { migrate } from '../../backends/postgres/migrate.js';

/** The shared test server (trust auth, user postgres). */
const SERVER = process.env.HERALD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

export interface TestDatabase {
  /** Connection URL of the fresh database. */
  url: string;
  /** A client on it, migrated. */
  sql: postgres.Sql;
  /** Ends the client and drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file, so files run in parallel on one server.
 *
 * @example const db = await createTestDatabase(); afterAll(() => db.drop());
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `herald_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(`${SERVER}/postgres`, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = `${SERVER}/${name}`;
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  await migrate(sql);
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const maintenance = postgres(`${SERVER}/postgres`, { max: 1, onnotice: () => {} });
      try {
        await maintenance.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await maintenance.end();
      }
    },
  };
}
