import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../backends/postgres/embedded.js';
import { migrate } from '../backends/postgres/migrate.js';
import { postgresStoreSuite } from './postgres-store-suite.js';

postgresStoreSuite('PGlite (embedded)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herald-pglite-'));
  const pg = await startEmbeddedPostgres({ dataDir: dir });
  const sql = postgres(pg.url, { max: 4, onnotice: () => {} });
  await migrate(sql);
  return {
    url: pg.url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await pg.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}, { singleSession: true });
