import type postgres from 'postgres';
import type { Channel } from '../../src/channel.js';
import type { ChannelLog } from '../../src/channel-log.js';
import type { ChannelEvent } from '../../src/event.js';
import type { MsgIn } from '../../src/msg.js';
import { insertChannelEvents } from './channel-events.js';
import { insertChannelLogs } from './channel-logs.js';
import { contactKey, ensureContacts } from './contacts.js';
import { UnknownChannelError } from './db.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { storeIncomingMsgs } from './incoming-msgs.js';

export type WriteJob = { kind: 'msgs'; msgs: MsgIn[] } | { kind: 'events'; events: ChannelEvent[] };

/**
 * Incoming messages, channel events and channel logs from concurrent requests, written by group
 * commit (see group-commit.ts). A batch's messages are one statement (deduplication, contacts,
 * messages and their outbox events together); its events one transaction. Channel logs go in
 * batches of their own, larger and less often (every 100 ms or 500 logs): no provider waits for
 * them, keeping them out of the messages' transactions keeps those small and quick, and fewer,
 * larger log statements cost less per log (measured on the receive benchmark: 3–5 % less CPU per
 * callback in Herald and in Postgres than with 20 ms). The price: a log reaches the database up to
 * 100 ms after its request, and a process killed outright loses the logs of its last 100 ms.
 */
export class WriteBatcher {
  private readonly batches: GroupCommit<WriteJob, string[]>;
  private readonly logs: GroupCommit<ChannelLog, void>;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly channel: (uuid: string) => Promise<Channel | null>,
    opts: GroupCommitOptions = {},
  ) {
    this.batches = new GroupCommit((jobs) => this.commit(jobs), rowsOf, opts);
    this.logs = new GroupCommit<ChannelLog, void>(
      async (logs) => {
        await insertChannelLogs(sql, logs);
        return logs.map(() => undefined);
      },
      () => 1,
      { maxRows: 500, maxWaitMs: 100, maxConcurrent: 1, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) },
    );
  }

  /** Stores messages; answers the uuid each is stored under (the first's, for a duplicate). */
  writeMsgs(msgs: MsgIn[]): Promise<string[]> {
    return msgs.length === 0 ? Promise.resolve([]) : this.batches.submit({ kind: 'msgs', msgs });
  }

  async writeEvents(events: ChannelEvent[]): Promise<void> {
    if (events.length > 0) await this.batches.submit({ kind: 'events', events });
  }

  writeChannelLog(log: ChannelLog): Promise<void> {
    return this.logs.submit(log);
  }

  /** Resolves once everything submitted so far is committed (or rejected). */
  async drain(): Promise<void> {
    await Promise.all([this.batches.drain(), this.logs.drain()]);
  }

  private async commit(jobs: WriteJob[]): Promise<string[][]> {
    const msgs = jobs.flatMap((j) => (j.kind === 'msgs' ? j.msgs : []));
    const events = jobs.flatMap((j) => (j.kind === 'events' ? j.events : []));
    const orgs = new Map<string, string>();
    for (const uuid of new Set([...msgs, ...events].map((x) => x.channelUuid))) {
      const channel = await this.channel(uuid);
      if (!channel) throw new UnknownChannelError(uuid);
      orgs.set(uuid, channel.orgUuid);
    }
    const orgOf = (channelUuid: string) => orgs.get(channelUuid)!;

    // Messages go in one statement of their own (see incoming-msgs.ts), events in a transaction
    // beside it: one batch's callers do not depend on each other, and each is answered only once
    // both are committed.
    const [stored] = await Promise.all([
      storeIncomingMsgs(this.sql, msgs.map((msg) => ({ msg, orgUuid: orgOf(msg.channelUuid) }))),
      events.length === 0 ? undefined : this.sql.begin(async (tx) => {
        const contacts = await ensureContacts(tx, events.map((e) => ({ orgUuid: orgOf(e.channelUuid), urn: e.urn, name: e.contactName })));
        await insertChannelEvents(
          tx,
          events.map((event) => ({ event, orgUuid: orgOf(event.channelUuid), contactUuid: contacts.get(contactKey(orgOf(event.channelUuid), event.urn))! })),
        );
      }),
    ]);

    let next = 0;
    return jobs.map((job) => (job.kind === 'msgs' ? stored.slice(next, (next += job.msgs.length)) : []));
  }
}

function rowsOf(job: WriteJob): number {
  return job.kind === 'msgs' ? job.msgs.length : job.events.length;
}
