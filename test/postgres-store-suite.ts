import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ORG_UUID } from '../backends/memory/backend.js';
import { MemoryQueue } from '../backends/memory/queue.js';
import { PostgresBackend, type PostgresBackendOptions } from '../backends/postgres/backend.js';
import type { CommitStats } from '../backends/postgres/group-commit.js';
import { migrate } from '../backends/postgres/migrate.js';
import type { OutgoingJob } from '../src/backend.js';
import type { Channel } from '../src/channel.js';
import type { ChannelLog } from '../src/channel-log.js';
import type { MsgIn } from '../src/msg.js';
import type { Queue } from '../src/queue.js';
import type { Urn } from '../src/urn.js';
import { PermanentSpoolError, SpoolFlusher } from '../spool/flusher.js';
import { Spool } from '../spool/spool.js';

export interface SuiteDatabase {
  url: string;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

/** A database the Postgres store can run on: real Postgres 15, or the embedded PGlite server. */
export type MakeDatabase = () => Promise<SuiteDatabase>;

export interface SuiteOptions {
  /**
   * The database serves one transaction at a time (PGlite): tests that hold a transaction open in
   * one session while another works are skipped.
   */
  singleSession?: boolean;
}

/**
 * The Postgres store's behaviour, as one suite run against each database it must work on.
 *
 * @example postgresStoreSuite('Postgres 15', createTestDatabase);
 */
export function postgresStoreSuite(name: string, makeDb: MakeDatabase, opts: SuiteOptions = {}): void {
  describe(`PostgresBackend on ${name}`, () => {
    let db: SuiteDatabase;
    const open: PostgresBackend[] = [];

    beforeAll(async () => {
      db = await makeDb();
    }, 60_000);
    afterEach(async () => {
      for (const backend of open.splice(0)) await backend.close();
    });
    afterAll(async () => {
      await db?.drop();
    });

    interface Setup {
      backend: PostgresBackend;
      queue: MemoryQueue;
      channel: Channel;
      commits: CommitStats[];
      advance(ms: number): void;
      now(): Date;
    }

    async function setup(opts: Partial<PostgresBackendOptions> & { queue?: Queue; keepQueue?: boolean; tps?: number } = {}): Promise<Setup> {
      // 100 ms into a second (a rate-limited channel pops nothing in the last TPS_GUARD_MS of one),
      // and in the past, so what it stores is due for a backend on the real clock too.
      let clock = Math.floor(Date.now() / 1000) * 1000 - 900;
      const queue = new MemoryQueue({ now: () => clock });
      const commits: CommitStats[] = [];
      const backend = await PostgresBackend.create({
        sql: postgres(db.url, { max: 4, onnotice: () => {} }),
        queue: opts.queue ?? queue,
        now: () => new Date(clock),
        batching: { onCommit: (s) => commits.push(s) },
        reconciler: { intervalMs: 3_600_000 },
        ...opts,
      });
      open.push(backend);
      // The start-up pass may have pushed other tests' waiting rows: start from an empty queue.
      if (!opts.keepQueue) await queue.clear();
      const uuid = uuidv7();
      await backend.upsertChannels([{ uuid, type: 'ex', name: 'Test', address: '+250788000000', country: 'RW', tps: opts.tps ?? 0, config: {} }]);
      const channel = (await backend.getChannel(uuid))!;
      return { backend, queue, channel, commits, advance: (ms) => (clock += ms), now: () => new Date(clock) };
    }

    function msgIn(channel: Channel, spec: Partial<MsgIn> = {}): MsgIn {
      return { uuid: uuidv7(), channelUuid: channel.uuid, urn: 'tel:+250788383383', text: 'hello', attachments: [], receivedOn: new Date(), ...spec };
    }

    function log(channel: Channel, spec: Partial<ChannelLog> = {}): ChannelLog {
      return {
        uuid: uuidv7(),
        type: 'msg_send',
        channelUuid: channel.uuid,
        httpLogs: [{ method: 'POST', url: 'https://example.com/send', statusCode: 200, request: 'POST /send', response: '{}', elapsedMs: 12, createdOn: new Date() }],
        errors: [],
        isError: false,
        elapsedMs: 12,
        createdOn: new Date(),
        ...spec,
      };
    }

    const outbox = (type: string, key: string, value: string) =>
      db.sql`select data from outbox where type = ${type} and data->>${key} = ${value} order by id`.then((rows) => rows.map((r) => r.data));
    const history = (uuid: string) =>
      db.sql`select status, reason from msg_status_history where msg_uuid = ${uuid} order by id`.then((rows) => rows.map((r) => (r.reason ? `${r.status}:${r.reason}` : r.status)));
    const msgRow = (uuid: string) => db.sql`select * from msgs where uuid = ${uuid}`.then((rows) => rows[0]!);

    it('migrations are idempotent', async () => {
      expect(await migrate(db.sql)).toEqual([]);
      const [org] = await db.sql`select name from orgs where uuid = ${DEFAULT_ORG_UUID}`;
      expect(org?.name).toBe('Default');
    });

    describe('channels', () => {
      it('upserts channels and hides deleted ones', async () => {
        const { backend, channel } = await setup();
        expect(channel).toMatchObject({ type: 'ex', name: 'Test', address: '+250788000000', country: 'RW', tps: 0, orgUuid: DEFAULT_ORG_UUID });
        await backend.upsertChannels([{ uuid: channel.uuid, type: 'ex', name: 'Renamed', tps: 5, config: { send_url: 'https://x.example' } }]);
        const renamed = await backend.getChannel(channel.uuid);
        expect(renamed).toMatchObject({ name: 'Renamed', tps: 5 });
        expect(renamed!.config.string('send_url')).toBe('https://x.example');

        await db.sql`update channels set deleted_on = now() where uuid = ${channel.uuid}`;
        backend.channels.invalidate(channel.uuid);
        expect(await backend.getChannel(channel.uuid)).toBeNull();
        expect(await backend.getChannel(uuidv7())).toBeNull();
      });
    });

    describe('incoming messages', () => {
      it('stores a message with its contact and a message.received event', async () => {
        const { backend, channel } = await setup();
        const msg = msgIn(channel, { urn: 'telegram:4242#bobby', text: 'hi there', attachments: ['image/jpeg:https://example.com/a.jpg'], externalId: 'tg-1', contactName: 'Bob' });
        expect(await backend.writeMsgs([msg])).toEqual([msg.uuid]);

        const row = await msgRow(msg.uuid);
        expect(row).toMatchObject({ direction: 'in', status: 'pending', text: 'hi there', external_id: 'tg-1', urn: 'telegram:4242#bobby', org_uuid: DEFAULT_ORG_UUID });
        expect(row.attachments).toEqual(['image/jpeg:https://example.com/a.jpg']);
        const [contact] = await db.sql`
          select c.uuid, c.name, u.identity, u.display from contacts c join contact_urns u on u.contact_uuid = c.uuid where c.uuid = ${row.contact_uuid}`;
        expect(contact).toMatchObject({ name: 'Bob', identity: 'telegram:4242', display: 'bobby' });
        const [event] = await outbox('message.received', 'uuid', msg.uuid);
        expect(event).toMatchObject({ uuid: msg.uuid, text: 'hi there', external_id: 'tg-1', channel_uuid: channel.uuid, contact_uuid: contact!.uuid });

        // The same person under another display name is the same contact.
        const again = msgIn(channel, { urn: 'telegram:4242#robert', text: 'me again' });
        await backend.writeMsgs([again]);
        expect((await msgRow(again.uuid)).contact_uuid).toBe(row.contact_uuid);
      });

      it('deduplicates by external id across calls and within one call', async () => {
        const { backend, channel } = await setup();
        const first = msgIn(channel, { externalId: 'ext-1' });
        await backend.writeMsgs([first]);
        const retry = msgIn(channel, { externalId: 'ext-1', text: 'different text, same provider message' });
        const a = msgIn(channel, { externalId: 'ext-2' });
        const aAgain = msgIn(channel, { externalId: 'ext-2' });
        const other = msgIn(channel, { externalId: 'ext-1', urn: 'tel:+250788999999' });
        expect(await backend.writeMsgs([retry, a, aAgain, other])).toEqual([first.uuid, a.uuid, a.uuid, other.uuid]);
        const [{ count }] = await db.sql`select count(*)::int as count from msgs where channel_uuid = ${channel.uuid}` as any;
        expect(count).toBe(3);
        expect(await outbox('message.received', 'channel_uuid', channel.uuid)).toHaveLength(3);
      });

      it('deduplicates the same text from the same URN within seconds, not later', async () => {
        const { backend, channel } = await setup();
        const t0 = Date.now();
        const first = msgIn(channel, { text: 'yes', receivedOn: new Date(t0) });
        const twin = msgIn(channel, { text: 'yes', receivedOn: new Date(t0 + 1_000) });
        const otherText = msgIn(channel, { text: 'no', receivedOn: new Date(t0 + 1_000) });
        expect(await backend.writeMsgs([first, twin, otherText])).toEqual([first.uuid, first.uuid, otherText.uuid]);
        const stillTwin = msgIn(channel, { text: 'yes', receivedOn: new Date(t0 + 3_000) });
        const withAttachment = msgIn(channel, { text: 'yes', attachments: ['image:https://example.com/b.png'], receivedOn: new Date(t0 + 3_000) });
        const later = msgIn(channel, { text: 'yes', receivedOn: new Date(t0 + 6_000) });
        expect(await backend.writeMsgs([stillTwin])).toEqual([first.uuid]);
        expect(await backend.writeMsgs([withAttachment])).toEqual([withAttachment.uuid]);
        expect(await backend.writeMsgs([later])).toEqual([later.uuid]);
      });

      it('commits 200 concurrent calls in a few transactions, each answered with its own uuid', async () => {
        const { backend, channel, commits } = await setup();
        const msgs = Array.from({ length: 200 }, (_, i) => msgIn(channel, { urn: `tel:+25078800${String(i).padStart(4, '0')}` as Urn, text: `m${i}` }));
        const answers = await Promise.all(msgs.map((m) => backend.writeMsgs([m])));
        expect(answers).toEqual(msgs.map((m) => [m.uuid]));
        const msgCommits = commits.filter((c) => c.rows > 1);
        expect(commits.reduce((n, c) => n + c.callers, 0)).toBe(200);
        expect(commits.length).toBeLessThanOrEqual(10);
        expect(Math.max(...msgCommits.map((c) => c.callers))).toBeGreaterThanOrEqual(50);
        const [{ count }] = await db.sql`select count(*)::int as count from msgs where channel_uuid = ${channel.uuid}` as any;
        expect(count).toBe(200);
      });

      it('two processes writing a new sender at once make one contact and store every message', async () => {
        const a = await setup();
        const b = await setup();
        for (let round = 0; round < 10; round++) {
          const urn = `tel:+2507884${String(round).padStart(5, '0')}` as Urn;
          const msgs = Array.from({ length: 8 }, (_, i) => msgIn(a.channel, { urn, text: `round ${round} msg ${i}` }));
          const answers = await Promise.all(msgs.map((m, i) => (i % 2 === 0 ? a.backend : b.backend).writeMsgs([m])));
          expect(answers).toEqual(msgs.map((m) => [m.uuid]));
          const contacts = await db.sql`select distinct contact_uuid from msgs where urn = ${urn}`;
          expect(contacts).toHaveLength(1);
          const [{ count }] = (await db.sql`select count(*)::int as count from msgs where urn = ${urn}`) as any;
          expect(count).toBe(8);
        }
      });

      it('a bad row fails only its own caller', async () => {
        const { backend, channel } = await setup();
        const msgs = Array.from({ length: 20 }, (_, i) => msgIn(channel, { urn: `tel:+25078811${String(i).padStart(4, '0')}` as Urn, text: i === 7 ? 'nul \u0000 byte' : `ok ${i}` }));
        const results = await Promise.allSettled(msgs.map((m) => backend.writeMsgs([m])));
        expect(results.map((r) => r.status)).toEqual(msgs.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
        const [{ count }] = await db.sql`select count(*)::int as count from msgs where channel_uuid = ${channel.uuid}` as any;
        expect(count).toBe(19);
      });

      it('stores events and logs; a stop_contact event stops the contact', async () => {
        const { backend, channel } = await setup();
        const urn: Urn = 'tel:+250788555001';
        const event = { uuid: uuidv7(), channelUuid: channel.uuid, type: 'stop_contact' as const, urn, receivedOn: new Date() };
        const l = log(channel, { type: 'event_receive' });
        await Promise.all([backend.writeEvents([event]), backend.writeChannelLog(l)]);
        expect(await backend.isContactStopped(DEFAULT_ORG_UUID, urn)).toBe(true);
        expect(await outbox('channel.event', 'uuid', event.uuid)).toEqual([expect.objectContaining({ event_type: 'stop_contact', urn })]);
        expect(await outbox('contact.stopped', 'urn', urn)).toHaveLength(1);
        const [row] = await db.sql`select * from channel_logs where uuid = ${l.uuid}`;
        expect(row).toMatchObject({ type: 'event_receive', is_error: false, elapsed_ms: 12 });
        expect(row!.http_logs[0]).toMatchObject({ method: 'POST', status_code: 200, elapsed_ms: 12 });
      });
    });

    describe('status updates', () => {
      async function sentMsg(s: Setup, externalIds: string[] = ['ext-a']): Promise<string> {
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hi' });
        const job = (await s.backend.popNextOutgoing())!;
        await s.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds }, log(s.channel, { msgUuid: msg.uuid }));
        return msg.uuid;
      }

      it('records a provider errored report once, however often it is repeated or replayed', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const report = { channelUuid: s.channel.uuid, msgUuid: msg.uuid, status: 'errored' as const, reason: 'network', receivedOn: new Date() };
        expect(await s.backend.writeStatuses([report])).toEqual([{ msgUuid: msg.uuid, result: 'updated' }]);
        expect(await s.backend.writeStatuses([report])).toEqual([{ msgUuid: msg.uuid, result: 'unchanged' }]);
        expect(await history(msg.uuid)).toEqual(['queued', 'errored:network']);
        // Settled, so later tests' reconciler passes do not find it waiting.
        expect(await s.backend.writeStatuses([{ ...report, status: 'failed' }])).toEqual([{ msgUuid: msg.uuid, result: 'updated' }]);
      });

      it('applies updates forward only, by uuid and by external id', async () => {
        const s = await setup();
        const uuid = await sentMsg(s, ['part-1', 'part-2']);
        const at = new Date();
        const results = await s.backend.writeStatuses([
          { channelUuid: s.channel.uuid, msgUuid: uuid, status: 'sent', receivedOn: at },
          { channelUuid: s.channel.uuid, externalId: 'part-2', status: 'delivered', receivedOn: at },
          { channelUuid: s.channel.uuid, externalId: 'part-1', status: 'sent', receivedOn: at },
          { channelUuid: s.channel.uuid, externalId: 'nope', status: 'delivered', receivedOn: at },
          { channelUuid: s.channel.uuid, msgUuid: uuidv7(), status: 'delivered', receivedOn: at },
          { channelUuid: s.channel.uuid, msgUuid: 'not-a-uuid', status: 'delivered', receivedOn: at },
          { channelUuid: uuidv7(), msgUuid: uuid, status: 'read', receivedOn: at },
        ]);
        expect(results).toEqual([
          { msgUuid: uuid, result: 'updated' },
          { msgUuid: uuid, result: 'updated' },
          { msgUuid: uuid, result: 'unchanged' },
          { msgUuid: null, result: 'unknown' },
          { msgUuid: null, result: 'unknown' },
          { msgUuid: null, result: 'unknown' },
          { msgUuid: null, result: 'unknown' },
        ]);
        expect((await msgRow(uuid)).status).toBe('delivered');
        expect(await history(uuid)).toEqual(['queued', 'wired', 'sent', 'delivered']);
        expect((await outbox('message.status', 'msg_uuid', uuid)).map((d) => d.status)).toEqual(['wired', 'sent', 'delivered']);
      });

      it('applies updates for one message from concurrent calls in arrival order', async () => {
        const s = await setup();
        const uuid = await sentMsg(s);
        const at = new Date();
        const [a, b, c] = await Promise.all([
          s.backend.writeStatuses([{ channelUuid: s.channel.uuid, msgUuid: uuid, status: 'delivered', receivedOn: at }]),
          s.backend.writeStatuses([{ channelUuid: s.channel.uuid, msgUuid: uuid, status: 'sent', receivedOn: at }]),
          s.backend.writeStatuses([{ channelUuid: s.channel.uuid, externalId: 'ext-a', status: 'failed', reason: 'expired', receivedOn: at }]),
        ]);
        expect([a![0]!.result, b![0]!.result, c![0]!.result]).toEqual(['updated', 'unchanged', 'unchanged']);
        expect(await history(uuid)).toEqual(['queued', 'wired', 'delivered']);
      });

      it.skipIf(opts.singleSession)('matches such a report in another process sharing the queue', async () => {
        const s = await setup();
        const other = await PostgresBackend.create({ sql: postgres(db.url, { max: 2, onnotice: () => {} }), queue: s.queue, reconciler: { intervalMs: 3_600_000 } });
        open.push(other);
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hi' });
        const job = (await s.backend.popNextOutgoing())!;
        const blocker = await db.sql.reserve();
        await blocker`begin`;
        await blocker`lock table msg_external_ids in share mode`;
        const recording = s.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: ['early-2'] }, log(s.channel, { msgUuid: msg.uuid }));
        await waitFor(async () => (await db.sql`select 1 from pg_locks where not granted`).length > 0);
        const [early] = await other.writeStatuses([{ channelUuid: s.channel.uuid, externalId: 'early-2', status: 'delivered', receivedOn: new Date() }]);
        expect(early).toEqual({ msgUuid: msg.uuid, result: 'updated' });
        await blocker`commit`;
        blocker.release();
        await recording;
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'delivered', external_id: 'early-2' });
      });

      it.skipIf(opts.singleSession)('matches a delivery report that arrives before the send outcome is committed', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hi' });
        const job = (await s.backend.popNextOutgoing())!;
        // Hold the outcome's transaction at its first write, as a slow commit would.
        const blocker = await db.sql.reserve();
        await blocker`begin`;
        await blocker`lock table msg_external_ids in share mode`;
        const recording = s.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: ['early-1'] }, log(s.channel, { msgUuid: msg.uuid }));
        await waitFor(async () => (await db.sql`select 1 from pg_locks where not granted`).length > 0);
        const [early] = await s.backend.writeStatuses([{ channelUuid: s.channel.uuid, externalId: 'early-1', status: 'delivered', receivedOn: new Date() }]);
        expect(early).toEqual({ msgUuid: msg.uuid, result: 'updated' });
        await blocker`commit`;
        blocker.release();
        await recording;
        const row = await msgRow(msg.uuid);
        expect(row).toMatchObject({ status: 'delivered', external_id: 'early-1', lease_until: null });
        expect(row.sent_on).toBeInstanceOf(Date);
        expect(await history(msg.uuid)).toEqual(['queued', 'delivered']);
      });
    });

    describe('outgoing messages', () => {
      const retry = { maxRetries: 2, baseDelayMs: 1_000, factor: 2 };

      it('queues, pops, claims and records a sent message', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello', quickReplies: ['Yes'], metadata: { order: 7 } });
        expect(msg).toMatchObject({ status: 'queued', priority: 'high', quickReplies: ['Yes'], metadata: { order: 7 }, errorCount: 0 });
        expect(await s.queue.size(s.channel.uuid)).toBe(1);
        const job = (await s.backend.popNextOutgoing())!;
        expect(job).toMatchObject({ msg: { uuid: msg.uuid, text: 'hello' }, channel: { uuid: s.channel.uuid }, contactStopped: false });
        expect((await msgRow(msg.uuid)).lease_until).toBeInstanceOf(Date);
        const l = log(s.channel, { msgUuid: msg.uuid });
        await s.backend.recordSendOutcome(job, { kind: 'sent', status: 'sent', externalIds: ['SM1'] }, l);
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'sent', external_id: 'SM1', lease_until: null });
        expect(await history(msg.uuid)).toEqual(['queued', 'sent']);
        expect(await db.sql`select msg_uuid from channel_logs where uuid = ${l.uuid}`).toEqual([{ msg_uuid: msg.uuid }]);
        expect(await s.queue.wasSent(msg.uuid)).toBe(true);
        expect(await s.backend.popNextOutgoing()).toBeNull();
      });

      it('retries an errored message with back-off, then fails it', async () => {
        const s = await setup({ retry });
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        for (let attempt = 1; attempt <= 2; attempt++) {
          const job = (await s.backend.popNextOutgoing())!;
          expect(job.msg.uuid).toBe(msg.uuid);
          await s.backend.recordSendOutcome(job, { kind: 'errored', reason: 'connection_failed' }, log(s.channel));
          const row = await msgRow(msg.uuid);
          expect(row).toMatchObject({ status: 'errored', error_count: attempt, lease_until: null });
          expect(await s.backend.popNextOutgoing()).toBeNull(); // not due yet
          s.advance(1_000 * 2 ** attempt);
        }
        const last = (await s.backend.popNextOutgoing())!;
        await s.backend.recordSendOutcome(last, { kind: 'errored', reason: 'connection_failed' }, log(s.channel));
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'failed', error_count: 3, failed_reason: 'connection_failed (after 2 retries)' });
        expect(await history(msg.uuid)).toEqual([
          'queued', 'errored:connection_failed', 'errored:connection_failed', 'failed:connection_failed (after 2 retries)',
        ]);
        expect(await s.queue.size()).toBe(0);
      });

      it('fails a message and stops its contact', async () => {
        const s = await setup();
        const urn: Urn = 'tel:+250788555002';
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn, text: 'hello' });
        const job = (await s.backend.popNextOutgoing())!;
        await s.backend.recordSendOutcome(job, { kind: 'failed', reason: 'contact_stopped', stopContact: true }, log(s.channel));
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'failed', failed_reason: 'contact_stopped' });
        expect(await s.backend.isContactStopped(DEFAULT_ORG_UUID, urn)).toBe(true);
        expect(await outbox('contact.stopped', 'urn', urn)).toHaveLength(1);
        expect((await outbox('channel.event', 'urn', urn)).map((d) => d.event_type)).toEqual(['stop_contact']);

        const next = await s.backend.queueOutgoing({ channel: s.channel, urn, text: 'again' });
        expect((await s.backend.popNextOutgoing())).toMatchObject({ msg: { uuid: next.uuid }, contactStopped: true });

        await s.backend.unstopContact(DEFAULT_ORG_UUID, urn);
        expect(await s.backend.isContactStopped(DEFAULT_ORG_UUID, urn)).toBe(false);
        expect(await outbox('contact.unstopped', 'urn', urn)).toHaveLength(1);
      });

      it('puts a throttled message back at the head of its lane', async () => {
        const s = await setup();
        const a = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'a' });
        const b = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'b' });
        const job = (await s.backend.popNextOutgoing())!;
        expect(job.msg.uuid).toBe(a.uuid);
        await s.backend.recordSendOutcome(job, { kind: 'throttled', until: new Date(s.now().getTime() + 1_000) }, log(s.channel));
        expect(await msgRow(a.uuid)).toMatchObject({ status: 'queued', lease_until: null });
        expect(await s.backend.popNextOutgoing()).toBeNull();
        s.advance(1_001);
        const order: string[] = [];
        for (let job: OutgoingJob | null; (job = await s.backend.popNextOutgoing()); ) order.push(job.msg.uuid);
        expect(order).toEqual([a.uuid, b.uuid]);
      });

      it('skips a duplicate queue entry of a message already claimed or sent', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        await s.queue.push(s.channel.uuid, 0, { id: msg.uuid }, 'high');
        await s.queue.push(s.channel.uuid, 0, { id: msg.uuid }, 'high');
        const job = (await s.backend.popNextOutgoing())!;
        expect(await s.backend.popNextOutgoing()).toBeNull(); // claimed
        await s.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: [] }, log(s.channel));
        expect(await s.backend.popNextOutgoing()).toBeNull(); // sent
        expect(await s.queue.size()).toBe(0);
      });

      it('pops and claims several at once, skipping duplicates, and records their sends together', async () => {
        const s = await setup();
        const msgs = [];
        for (const text of ['a', 'b', 'c', 'd']) msgs.push(await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text }));
        await s.queue.push(s.channel.uuid, 0, { id: msgs[0]!.uuid }, 'high'); // a duplicate entry
        const first = (await s.backend.popNextOutgoing())!;
        expect(first.msg.uuid).toBe(msgs[0]!.uuid);

        const jobs = await s.backend.popOutgoing(10);
        expect(jobs.map((j) => j.msg.text)).toEqual(['b', 'c', 'd']); // a's second entry: claimed, skipped
        expect(new Set(jobs.map((j) => j.token)).size).toBe(3);
        expect(await s.queue.size()).toBe(0);
        expect(await s.backend.popOutgoing(10)).toEqual([]);

        const logs = jobs.map((j) => log(s.channel, { msgUuid: j.msg.uuid }));
        await Promise.all([
          ...jobs.map((job, i) => s.backend.recordSendOutcome(job, { kind: 'sent', status: 'sent', externalIds: [`SM${i}`, `SM${i}b`] }, logs[i]!)),
          s.backend.recordSendOutcome(first, { kind: 'sent', status: 'wired', externalIds: [] }, log(s.channel)),
        ]);
        for (const [i, job] of jobs.entries()) {
          expect(await msgRow(job.msg.uuid)).toMatchObject({ status: 'sent', external_id: `SM${i}`, lease_until: null });
          expect(await history(job.msg.uuid)).toEqual(['queued', 'sent']);
          const events = (await outbox('message.status', 'msg_uuid', job.msg.uuid)).filter((d) => d.status === 'sent');
          expect(events).toEqual([{ msg_uuid: job.msg.uuid, channel_uuid: s.channel.uuid, status: 'sent', created_on: s.now().toISOString() }]);
        }
        expect(await db.sql`select count(*)::int as n from channel_logs where uuid = any(${logs.map((l) => l.uuid)}::uuid[])`).toEqual([{ n: 3 }]);
        expect(await db.sql`select count(*)::int as n from msg_external_ids where msg_uuid = any(${jobs.map((j) => j.msg.uuid)}::uuid[])`).toEqual([{ n: 6 }]);
        expect(await msgRow(msgs[0]!.uuid)).toMatchObject({ status: 'wired' });
      });

      it('claims a message queued while its pop was under way', async () => {
        const s = await setup();
        const popMany = s.queue.popMany.bind(s.queue);
        let queued: string | undefined;
        // Queued, on a clock that moved on, after the pop read its time and before the queue step.
        s.queue.popMany = async (max) => {
          s.advance(5);
          queued ??= (await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'just now' })).uuid;
          return popMany(max);
        };
        const jobs = await s.backend.popOutgoing(10);
        expect(jobs.map((j) => j.msg.uuid)).toEqual([queued]);
      });

      it('a late sent does not move a message a delivery report already moved', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const job = (await s.backend.popNextOutgoing())!;
        await db.sql`update msgs set status = 'delivered' where uuid = ${msg.uuid}`;
        await s.backend.recordSendOutcome(job, { kind: 'sent', status: 'sent', externalIds: ['SM9'] }, log(s.channel));
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'delivered', external_id: 'SM9', lease_until: null });
        expect(await history(msg.uuid)).toEqual(['queued']);
      });

      it('keeps a message in its place when the database cannot be asked whether to send it', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const unreachable = await PostgresBackend.create({
          sql: postgres('postgres://postgres@127.0.0.1:1/none', { max: 1, connect_timeout: 1, onnotice: () => {} }),
          queue: s.queue,
          now: s.now,
          reconciler: { intervalMs: 3_600_000, onError: () => {} },
        });
        open.push(unreachable);
        await expect(unreachable.popNextOutgoing()).rejects.toThrow();
        expect(await s.queue.size(s.channel.uuid)).toBe(1);
        s.advance(1_001);
        expect((await s.backend.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
      });

      it('re-queues a retry with the cost it was queued with', async () => {
        const s = await setup({ retry, tps: 3 });
        await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'three parts', cost: 3 });
        const job = (await s.backend.popNextOutgoing())!;
        expect(job.cost).toBe(3);
        await s.backend.recordSendOutcome(job, { kind: 'errored', reason: 'connection_failed' }, log(s.channel));
        s.advance(2_000);
        expect((await s.backend.popNextOutgoing())?.cost).toBe(3);
      });

      it('finishes the token when recording the outcome fails', async () => {
        const s = await setup();
        await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const job = (await s.backend.popNextOutgoing())!;
        const bad = log(s.channel, { uuid: 'not-a-uuid' });
        await expect(s.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: ['x'] }, bad)).rejects.toThrow();
        expect(await s.queue.wasSent(job.msg.uuid)).toBe(true);
        // The token was completed: a new entry for the channel pops at once (nothing in flight).
        await s.queue.push(s.channel.uuid, 0, { id: job.msg.uuid }, 'high');
        expect(await s.backend.popNextOutgoing()).toBeNull(); // the sent marker stops a second send
      });
    });

    describe('reconciler', () => {
      // The reconciler sees every waiting message in the database: finish the other tests' ones.
      afterEach(settleWaiting);
      beforeAll(settleWaiting);
      async function settleWaiting() {
        await db.sql`update msgs set status = 'failed' where direction = 'out' and status in ('queued', 'errored')`;
      }

      it('re-queues a message whose lease expired', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const job = (await s.backend.popNextOutgoing())!;
        await s.queue.complete(job.token); // the Sender crashed; its row keeps the lease
        s.advance(6 * 60_000);
        const result = await s.backend.reconciler.pass('periodic');
        expect(result.released).toBeGreaterThanOrEqual(1);
        expect((await s.backend.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
      });

      it('as the sole process, releases every claim at start-up without waiting for it to expire', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        await s.backend.popNextOutgoing(); // claimed by a process that then died
        const queue = new MemoryQueue();
        const restarted = await PostgresBackend.create({ sql: postgres(db.url, { max: 2, onnotice: () => {} }), queue, reconciler: { intervalMs: 3_600_000, soleProcess: true } });
        open.push(restarted);
        expect((await restarted.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
      });

      it('does not push again a message pushed recently or still waiting in its channel', async () => {
        const s = await setup();
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        await s.backend.reconciler.pass('periodic');
        await s.backend.reconciler.pass('startup');
        expect(await s.queue.size(s.channel.uuid)).toBe(1);
        s.advance(10 * 60_000);
        await s.backend.reconciler.pass('periodic');
        expect(await s.queue.size(s.channel.uuid)).toBe(1);
        // The queue lost it (a Redis flush): the channel has nothing waiting, so it is pushed again.
        await s.queue.clear();
        await s.backend.reconciler.pass('periodic');
        expect(await s.queue.size(s.channel.uuid)).toBe(1);
        expect((await s.backend.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
      });

      it('fails a waiting message whose channel was deleted, instead of keeping it queued', async () => {
        const failing = new MemoryQueue();
        failing.push = async () => {
          throw new Error('queue down');
        };
        const s = await setup({ queue: failing });
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        await db.sql`update channels set deleted_on = now() where uuid = ${s.channel.uuid}`;
        s.backend.channels.invalidate(s.channel.uuid);
        await s.backend.reconciler.pass('periodic');
        expect(await msgRow(msg.uuid)).toMatchObject({ status: 'failed', failed_reason: 'channel_deleted' });
      });

      // PGlite is one session for all connections, so its advisory locks never exclude; it serves one process anyway.
      it.skipIf(opts.singleSession)('runs one pass at a time across processes sharing the database', async () => {
        const failing = new MemoryQueue();
        failing.push = async () => {
          throw new Error('queue down');
        };
        const s = await setup({ queue: failing });
        for (let i = 0; i < 20; i++) await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: `m${i}` });
        // Two processes start together, each with a queue that holds something already (as a
        // shared Redis would), so each start-up pass pushes only the rows never pushed.
        const queues = [new MemoryQueue(), new MemoryQueue()];
        for (const queue of queues) {
          await queue.push('another-channel', 0, { id: 'other' }, 'bulk');
          // A slow queue keeps both passes in flight at once.
          const size = queue.size.bind(queue);
          queue.size = async (channel?: string) => {
            await new Promise((r) => setTimeout(r, 50));
            return size(channel);
          };
        }
        await Promise.all(
          queues.map(async (queue) => {
            const backend = await PostgresBackend.create({ sql: postgres(db.url, { max: 2, onnotice: () => {} }), queue, reconciler: { intervalMs: 3_600_000 } });
            open.push(backend);
          }),
        );
        const sizes = await Promise.all(queues.map((q) => q.size(s.channel.uuid)));
        expect(sizes[0]! + sizes[1]!).toBe(20);
      });

      it('pushes a message whose push failed, and everything at start-up with an empty queue', async () => {
        const failing = new MemoryQueue();
        failing.push = async () => {
          throw new Error('queue down');
        };
        const s = await setup({ queue: failing });
        const later = new Date(Date.now() + 3_600_000);
        const msg = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'hello' });
        const scheduled = await s.backend.queueOutgoing({ channel: s.channel, urn: 'tel:+250788383383', text: 'later', sendAt: later });
        expect((await msgRow(msg.uuid)).pushed_on).toBeNull();

        const queue = new MemoryQueue();
        const fresh = await PostgresBackend.create({ sql: postgres(db.url, { max: 2, onnotice: () => {} }), queue, reconciler: { intervalMs: 3_600_000 } });
        open.push(fresh);
        expect(await queue.size(s.channel.uuid)).toBe(2);
        expect((await fresh.popNextOutgoing())?.msg.uuid).toBe(msg.uuid);
        expect((await msgRow(scheduled.uuid)).pushed_on).toBeInstanceOf(Date);
      });
    });

    describe('channel logs', () => {
      it('writes a log still waiting for its batch when the backend closes', async () => {
        const s = await setup();
        const pending = log(s.channel);
        // Not awaited: a channel log waits for its batch (up to 100 ms), which close must not drop.
        const written = s.backend.writeChannelLog(pending);
        open.splice(open.indexOf(s.backend), 1);
        await s.backend.close();
        await written;
        expect((await db.sql`select uuid from channel_logs where uuid = ${pending.uuid}`).map((r) => r.uuid)).toEqual([pending.uuid]);
      });

      it('deletes logs older than the retention', async () => {
        const s = await setup();
        const eightDaysAgo = new Date(Date.now() - 8 * 86_400_000);
        const old = log(s.channel, { uuid: uuidv7({ msecs: eightDaysAgo.getTime() }), createdOn: eightDaysAgo });
        const recent = log(s.channel);
        await Promise.all([s.backend.writeChannelLog(old), s.backend.writeChannelLog(recent)]);
        expect(await s.backend.deleteOldChannelLogs(7)).toBeGreaterThanOrEqual(1);
        expect((await db.sql`select uuid from channel_logs where uuid in ${db.sql([old.uuid, recent.uuid])}`).map((r) => r.uuid)).toEqual([recent.uuid]);
      });
    });

    describe('spool fallback', () => {
      let dir: string;
      beforeAll(async () => {
        dir = await mkdtemp(join(tmpdir(), 'herald-pg-spool-'));
      });
      afterAll(async () => {
        await rm(dir, { recursive: true, force: true });
      });

      it('spools writes while the database is unreachable and replays them once, idempotently', async () => {
        const live = await setup();
        const spool = await Spool.open(dir);
        const down = await PostgresBackend.create({
          sql: postgres('postgres://postgres@127.0.0.1:1/herald', { max: 2, connect_timeout: 1, onnotice: () => {} }),
          queue: new MemoryQueue(),
          spool,
          reconciler: { intervalMs: 3_600_000 },
        });
        const sentUuid = await (async () => {
          const m = await live.backend.queueOutgoing({ channel: live.channel, urn: 'tel:+250788383383', text: 'out' });
          const job = (await live.backend.popNextOutgoing())!;
          await live.backend.recordSendOutcome(job, { kind: 'sent', status: 'wired', externalIds: ['spool-ext'] }, log(live.channel));
          return m.uuid;
        })();

        const msg = msgIn(live.channel, { text: 'while down', externalId: 'down-1' });
        const event = { uuid: uuidv7(), channelUuid: live.channel.uuid, type: 'new_conversation' as const, urn: 'tel:+250788383383' as Urn, receivedOn: new Date() };
        const l = log(live.channel, { type: 'msg_receive', msgUuid: msg.uuid });
        expect(await down.writeMsgs([msg])).toEqual([msg.uuid]);
        expect(await down.writeStatuses([
          { channelUuid: live.channel.uuid, externalId: 'spool-ext', status: 'delivered', receivedOn: new Date() },
          { channelUuid: live.channel.uuid, externalId: 'never-sent', status: 'delivered', receivedOn: new Date() },
        ])).toEqual([{ msgUuid: null, result: 'spooled' }, { msgUuid: null, result: 'spooled' }]);
        await down.writeEvents([event]);
        await down.writeChannelLog(l);
        expect(spool.size().files).toBe(4);
        expect(await down.health()).toEqual({ database: 'down', redis: 'not_configured', queue: 'ok', spool: 'degraded' });
        await down.close();

        const replayed: Array<[string, unknown]> = [];
        const flusher = new SpoolFlusher(spool, async (kind, payload) => {
          replayed.push([kind, payload]);
          await live.backend.replaySpooled(kind, payload);
        });
        expect(await flusher.flush()).toMatchObject({ replayed: 4, quarantined: 0, remaining: 0 });
        // A crash after storing and before deleting replays the same documents again.
        for (const [kind, payload] of replayed) await live.backend.replaySpooled(kind as 'msgs', JSON.parse(JSON.stringify(payload)));

        expect(await db.sql`select text from msgs where uuid = ${msg.uuid}`).toEqual([{ text: 'while down' }]);
        expect(await outbox('message.received', 'uuid', msg.uuid)).toHaveLength(1);
        expect(await db.sql`select type from channel_events where uuid = ${event.uuid}`).toEqual([{ type: 'new_conversation' }]);
        expect(await db.sql`select count(*)::int as n from channel_logs where uuid = ${l.uuid}`).toEqual([{ n: 1 }]);
        expect((await msgRow(sentUuid)).status).toBe('delivered');
        expect(await history(sentUuid)).toEqual(['queued', 'wired', 'delivered']);
      });

      it('reports the spool down when it cannot be written while the database is down', async () => {
        const spool = await Spool.open(dir);
        const down = await PostgresBackend.create({
          sql: postgres('postgres://postgres@127.0.0.1:1/herald', { max: 1, connect_timeout: 1, onnotice: () => {} }),
          queue: new MemoryQueue(),
          spool,
          reconciler: { intervalMs: 3_600_000, onError: () => {} },
        });
        open.push(down);
        const { channel } = await setup();
        spool.write = async () => {
          throw new Error('ENOSPC: no space left on device');
        };
        await expect(down.writeChannelLog(log(channel))).rejects.toThrow('ENOSPC');
        expect(await down.health()).toMatchObject({ database: 'down', spool: 'down' });
      });

      it('rejects a malformed document as permanent', async () => {
        const live = await setup();
        await expect(live.backend.replaySpooled('msgs', [{ uuid: 'x' }])).rejects.toBeInstanceOf(PermanentSpoolError);
        await expect(live.backend.replaySpooled('logs', 'nonsense')).rejects.toBeInstanceOf(PermanentSpoolError);
        const unknownChannel = msgIn(live.channel, { channelUuid: uuidv7() });
        await expect(live.backend.replaySpooled('msgs', JSON.parse(JSON.stringify([unknownChannel])))).rejects.toBeInstanceOf(PermanentSpoolError);
        // An id too long to index can never be stored: quarantined, not retried for ever.
        const hugeId = msgIn(live.channel, { externalId: randomBytes(3_500).toString('hex') });
        await expect(live.backend.replaySpooled('msgs', JSON.parse(JSON.stringify([hugeId])))).rejects.toBeInstanceOf(PermanentSpoolError);
      });

      it('throws instead of spooling a write the database rejected', async () => {
        const live = await setup({ spool: await Spool.open(dir) });
        await expect(live.backend.writeMsgs([msgIn(live.channel, { text: 'nul \u0000' })])).rejects.toThrow();
      });
    });

    it('reports health', async () => {
      const s = await setup();
      expect(await s.backend.health()).toEqual({ database: 'ok', redis: 'not_configured', queue: 'ok' });
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
