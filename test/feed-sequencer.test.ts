import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedSequencer } from '../backends/postgres/feed-sequencer.js';
import { DEFAULT_ORG_UUID } from '../src/org.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

const insertEvent = (sql: typeof db.sql, name: string) =>
  sql`insert into outbox (org_uuid, type, data) values (${DEFAULT_ORG_UUID}, 'contact.stopped', ${sql.json({ name })}) returning id`.then(([r]) => Number(r!.id));

/** The feed as a reader paging by its cursor sees it: every event after `after`, in order. */
const feedAfter = (after: number) =>
  db.sql`select seq, data->>'name' as name from outbox where org_uuid = ${DEFAULT_ORG_UUID} and seq > ${after} order by seq`.then((rows) =>
    rows.map((r) => ({ seq: Number(r.seq), name: r.name as string })),
  );

describe('FeedSequencer', () => {
  it('numbers an event that committed late after those already read, so a reader paging by cursor never skips it', async () => {
    const sequencer = new FeedSequencer({ sql: db.sql });
    // "slow" takes its id first but commits last, as an overlapping group commit may.
    let commitSlow!: () => void;
    const slowHeld = new Promise<void>((resolve) => (commitSlow = resolve));
    let slowId = 0;
    const slow = db.sql.begin(async (tx) => {
      slowId = await insertEvent(tx as unknown as typeof db.sql, 'slow');
      await slowHeld;
    });
    while (slowId === 0) await new Promise((r) => setTimeout(r, 5));
    const fastId = await insertEvent(db.sql, 'fast');
    expect(fastId).toBeGreaterThan(slowId);

    expect(await sequencer.sequence()).toBe(1);
    const firstPage = await feedAfter(0);
    expect(firstPage.map((e) => e.name)).toEqual(['fast']);

    commitSlow();
    await slow;
    expect(await sequencer.sequence()).toBe(1);
    const nextPage = await feedAfter(firstPage.at(-1)!.seq);
    expect(nextPage.map((e) => e.name)).toEqual(['slow']);
  });

  it('shares the work between processes: every event numbered once, numbers without gaps or repeats', async () => {
    const [{ last_seq: before }] = (await db.sql`select last_seq from feed_position`) as any;
    await Promise.all(Array.from({ length: 300 }, (_, i) => insertEvent(db.sql, `e${i}`)));
    const a = new FeedSequencer({ sql: db.sql, batch: 50 });
    const b = new FeedSequencer({ sql: db.sql, batch: 50 });
    let total = 0;
    for (;;) {
      const [x, y] = await Promise.all([a.sequence(), b.sequence()]);
      total += x + y;
      if (x === 0 && y === 0 && (await db.sql`select 1 from outbox where seq is null`).length === 0) break;
    }
    expect(total).toBe(300);
    const seqs = (await db.sql`select seq from outbox where seq > ${before} order by seq`).map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => Number(before) + 1 + i));
  });

  it('runs on its own until stopped', async () => {
    const sequencer = new FeedSequencer({ sql: db.sql, intervalMs: 10 });
    sequencer.start();
    const id = await insertEvent(db.sql, 'background');
    for (let i = 0; i < 200; i++) {
      const [row] = await db.sql`select seq from outbox where id = ${id}`;
      if (row!.seq !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await sequencer.stop();
    const [row] = await db.sql`select seq from outbox where id = ${id}`;
    expect(row!.seq).not.toBeNull();
  });
});
