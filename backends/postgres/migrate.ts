/**
 * Schema migrations: numbered plain SQL files in `migrations/`, applied in name order, each in
 * its own transaction and recorded in `schema_migrations`. A released file is never edited; a
 * change is a new file.
 *
 * Several Herald processes may start together against one database. Each transaction first takes
 * a transaction-scoped advisory lock (`pg_advisory_xact_lock`), then re-reads what is applied:
 * the second process waits for the first, finds the file recorded and skips it. The transaction
 * scope (rather than a session lock held across all files) keeps the lock on the same connection
 * as the work even with a pool, and releases it on commit or rollback, never leaking it.
 */
import { readdir, readFile } from 'node:fs/promises';
import type postgres from 'postgres';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
/** Any fixed number shared by every Herald process: "herald-migrate". */
const LOCK_KEY = 0x6865726c;

/**
 * Applies the migrations not applied yet and answers their names, in order.
 *
 * @example await migrate(sql) // ['0001_initial.sql'] on a fresh database, [] afterwards
 */
export async function migrate(sql: postgres.Sql): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`create table if not exists schema_migrations (name text primary key, applied_on timestamptz not null default now())`;
  });
  const applied: string[] = [];
  for (const name of files) {
    const text = await readFile(new URL(name, MIGRATIONS_DIR), 'utf8');
    const ran = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
      const [done] = await tx`select 1 from schema_migrations where name = ${name}`;
      if (done) return false;
      await tx.unsafe(text).simple();
      await tx`insert into schema_migrations (name) values (${name})`;
      return true;
    });
    if (ran) applied.push(name);
  }
  return applied;
}
