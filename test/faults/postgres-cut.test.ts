import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { startHeraldProcess, type HeraldProcess } from '../support/herald-process.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const CHANNEL = '0191e180-7d60-7000-8000-0000000fa011';
const CALLBACKS = 1_000;

/** Files waiting in the spool, all kinds, not counting quarantine. */
async function spoolFiles(dir: string): Promise<number> {
  let total = 0;
  for (const kind of ['msgs', 'statuses', 'events', 'logs']) {
    const names = await readdir(join(dir, kind)).catch(() => []);
    total += names.filter((n) => n.endsWith('.json')).length;
  }
  return total;
}


describe('Postgres cut while callbacks arrive', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let herald: HeraldProcess;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    dir = await mkdtemp(join(tmpdir(), 'herald-fault-pg-'));
    const channels = join(dir, 'channels.json');
    await writeFile(channels, JSON.stringify([{ uuid: CHANNEL, type: 'ex', address: '+250788000000', country: 'RW', config: {} }]));
    herald = await startHeraldProcess({
      HERALD_DATABASE_URL: proxy.url(db.url),
      HERALD_DATA_DIR: join(dir, 'data'),
      HERALD_SPOOL_DIR: join(dir, 'spool'),
      HERALD_CHANNELS_FILE: channels,
    });
  }, 60_000);

  afterAll(async () => {
    await herald?.stop();
    await proxy?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every callback 200, spools them, and stores each exactly once after the cut heals', async () => {
    proxy.cut();
    const statuses: number[] = [];
    const senders = Array.from({ length: CALLBACKS }, (_, i) => `+25078810${String(i).padStart(4, '0')}`);
    for (let i = 0; i < senders.length; i += 50) {
      const batch = senders.slice(i, i + 50).map(async (from, j) => {
        const res = await fetch(`${herald.baseUrl}/c/ex/${CHANNEL}/receive`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ from, text: `during the cut ${i + j}`, id: `cut-${i + j}` }),
        });
        await res.arrayBuffer();
        return res.status;
      });
      statuses.push(...(await Promise.all(batch)));
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await spoolFiles(join(dir, 'spool'))).toBeGreaterThan(0);

    proxy.heal();
    await eventually('the spool replayed', async () => (await spoolFiles(join(dir, 'spool'))) === 0, 60_000);

    const check = postgres(db.url, { max: 1, onnotice: () => {} });
    const rows = await check<Array<{ external_id: string; n: string }>>`
      select external_id, count(*) as n from msgs where direction = 'in' group by external_id`;
    await check.end();
    expect(rows).toHaveLength(CALLBACKS);
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    expect((await readdir(join(dir, 'spool', 'quarantine'))).length).toBe(0);
  }, 120_000);
});
