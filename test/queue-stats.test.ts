import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queueStats } from '../backends/postgres/queue-stats.js';
import { createTestDatabase, type TestDatabase } from './support/pg.js';

const ORG = '00000000-0000-4000-8000-000000000000';

let db: TestDatabase;
let contact: string;

beforeAll(async () => {
  db = await createTestDatabase();
  contact = uuidv7();
  await db.sql`insert into contacts (uuid, org_uuid) values (${contact}, ${ORG})`;
});
afterAll(() => db.drop());
beforeEach(() => db.sql`delete from msgs`);

async function channel(type: string): Promise<string> {
  const uuid = uuidv7();
  await db.sql`insert into channels (uuid, org_uuid, type, name) values (${uuid}, ${ORG}, ${type}, ${type})`;
  return uuid;
}

interface Row {
  direction?: 'in' | 'out';
  status: string;
  /** Seconds since the message was created. */
  ageSeconds: number;
  /** Seconds from now to its send_at (negative: in the past). */
  sendInSeconds?: number;
}

async function msg(channelUuid: string, row: Row): Promise<void> {
  await db.sql`
    insert into msgs (uuid, org_uuid, channel_uuid, contact_uuid, direction, urn, status, send_at, created_on, modified_on)
    values (
      ${uuidv7()}, ${ORG}, ${channelUuid}, ${contact}, ${row.direction ?? 'out'}, 'tel:+250788123123', ${row.status},
      now() + make_interval(secs => ${row.sendInSeconds ?? null}::float8), now() - make_interval(secs => ${row.ageSeconds}), now()
    )`;
}

describe('queueStats', () => {
  it('answers, per channel with waiting outgoing messages, how many and how old the oldest is', async () => {
    const tg = await channel('tg');
    const kn = await channel('kn');
    const idle = await channel('ex');
    await msg(tg, { status: 'queued', ageSeconds: 10 });
    await msg(tg, { status: 'errored', ageSeconds: 120 });
    await msg(tg, { status: 'queued', ageSeconds: 1 });
    await msg(kn, { status: 'queued', ageSeconds: 30 });
    await msg(idle, { status: 'wired', ageSeconds: 500 });
    await msg(idle, { status: 'failed', ageSeconds: 500 });
    await msg(idle, { direction: 'in', status: 'pending', ageSeconds: 500 });

    const stats = await queueStats(db.sql);

    expect(stats.map(({ oldestAgeSeconds, ...rest }) => rest)).toEqual(
      expect.arrayContaining([
        { channelUuid: tg, channelType: 'tg', depth: 3 },
        { channelUuid: kn, channelType: 'kn', depth: 1 },
      ]),
    );
    expect(stats).toHaveLength(2);
    const age = (uuid: string) => stats.find((s) => s.channelUuid === uuid)!.oldestAgeSeconds;
    expect(age(tg)).toBeGreaterThanOrEqual(120);
    expect(age(tg)).toBeLessThan(125);
    expect(age(kn)).toBeGreaterThanOrEqual(30);
    expect(age(kn)).toBeLessThan(35);
  });

  it('counts a message scheduled for later without ageing it until its send_at', async () => {
    const tg = await channel('tg');
    await msg(tg, { status: 'queued', ageSeconds: 3_600, sendInSeconds: 600 });
    expect(await queueStats(db.sql)).toEqual([{ channelUuid: tg, channelType: 'tg', depth: 1, oldestAgeSeconds: 0 }]);

    await msg(tg, { status: 'queued', ageSeconds: 3_600, sendInSeconds: -60 });
    const [stats] = await queueStats(db.sql);
    expect(stats?.depth).toBe(2);
    expect(stats?.oldestAgeSeconds).toBeGreaterThanOrEqual(60);
    expect(stats?.oldestAgeSeconds).toBeLessThan(65);
  });

  it('answers nothing when no message is waiting', async () => {
    const tg = await channel('tg');
    await msg(tg, { status: 'sent', ageSeconds: 5 });
    expect(await queueStats(db.sql)).toEqual([]);
  });
});
