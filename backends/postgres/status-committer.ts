/**
 * StatusCommitter applies provider status reports in batches, by group commit (see
 * group-commit.ts): the reports of concurrent callbacks share one transaction that
 * 1. finds each message, by uuid or by (channel, provider id) through `msg_external_ids`, or
 *    through the in-process ExternalIdCache for a send whose outcome is not committed yet;
 * 2. locks the messages (in uuid order, so two processes never deadlock) and applies the reports
 *    in arrival order, forward only (`reportApplies`): several reports for one message in one
 *    batch apply one after the other, exactly as if they had come in separate batches;
 * 3. updates the rows, appends each change to the status history and writes a `message.status`
 *    outbox row per change — one multi-row statement each.
 * A report for a message it can find is never dropped: it is applied, or answered `unchanged`
 * when it would move the message backwards.
 */
import type postgres from 'postgres';
import type { StatusWriteResult } from '../../src/backend.js';
import type { MsgStatus } from '../../src/msg.js';
import type { StatusUpdate } from '../../src/status.js';
import { reportApplies } from '../../src/status-rules.js';
import { iso, type Db } from './db.js';
import type { ExternalIdCache } from './external-id-cache.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { insertOutbox, type OutboxEvent } from './outbox.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SENT_STATUSES: ReadonlySet<MsgStatus> = new Set(['wired', 'sent', 'delivered', 'read']);

interface MsgState {
  uuid: string;
  orgUuid: string;
  channelUuid: string;
  status: MsgStatus;
  failedReason: string | null;
  sentOn: Date | null;
  changed: boolean;
}

interface HistoryRow {
  msgUuid: string;
  status: MsgStatus;
  at: Date;
  reason: string | null;
}

export class StatusCommitter {
  private readonly batches: GroupCommit<StatusUpdate[], StatusWriteResult[]>;

  /**
   * @param externalIds provider ids this process sent moments ago
   * @param sharedExternalIds provider ids any process sharing the queue sent moments ago
   */
  constructor(
    private readonly sql: postgres.Sql,
    private readonly externalIds: ExternalIdCache,
    opts: GroupCommitOptions = {},
    private readonly sharedExternalIds?: (channelUuid: string, externalIds: readonly string[]) => Promise<Array<string | null>>,
  ) {
    // One transaction at a time: updates to one message then apply in arrival order, and two
    // batches can never lock the same messages in opposite orders.
    this.batches = new GroupCommit((jobs) => this.commit(jobs), (updates) => updates.length, { ...opts, maxConcurrent: 1 });
  }

  /**
   * Applies the updates; answers, per update, whether its message moved, stayed, or is unknown.
   *
   * @example await committer.write([{ channelUuid, externalId: 'SM1', status: 'delivered', receivedOn: new Date() }])
   */
  write(updates: StatusUpdate[]): Promise<StatusWriteResult[]> {
    return updates.length === 0 ? Promise.resolve([]) : this.batches.submit(updates);
  }

  drain(): Promise<void> {
    return this.batches.drain();
  }

  private async commit(jobs: StatusUpdate[][]): Promise<StatusWriteResult[][]> {
    const updates = jobs.flat();
    const results = await this.sql.begin(async (tx) => {
      const targets = await this.findTargets(tx, updates);
      const msgs = await lockMsgs(tx, [...new Set(targets.filter((t): t is string => t !== null))]);
      const history: HistoryRow[] = [];
      const events: OutboxEvent[] = [];
      const answers = updates.map((update, i): StatusWriteResult => {
        const msg = msgs.get(targets[i] ?? '');
        if (!msg || msg.channelUuid !== update.channelUuid) return { msgUuid: null, result: 'unknown' };
        if (!reportApplies(msg.status, update.status)) return { msgUuid: msg.uuid, result: 'unchanged' };
        msg.status = update.status;
        msg.changed = true;
        if (update.status === 'failed' && update.reason) msg.failedReason = update.reason;
        if (SENT_STATUSES.has(update.status)) msg.sentOn ??= update.receivedOn;
        history.push({ msgUuid: msg.uuid, status: update.status, at: update.receivedOn, reason: update.reason ?? null });
        events.push({
          orgUuid: msg.orgUuid,
          type: 'message.status',
          data: {
            msg_uuid: msg.uuid,
            channel_uuid: msg.channelUuid,
            status: update.status,
            ...(update.reason ? { reason: update.reason } : {}),
            ...(update.externalId ? { external_id: update.externalId } : {}),
            created_on: update.receivedOn.toISOString(),
          },
        });
        return { msgUuid: msg.uuid, result: 'updated' };
      });
      await saveMsgs(tx, [...msgs.values()].filter((m) => m.changed));
      await insertHistory(tx, history);
      await insertOutbox(tx, events);
      return answers;
    });
    let next = 0;
    return jobs.map((job) => results.slice(next, (next += job.length)));
  }

  /** Each update's message uuid (null when it names none that could exist). */
  private async findTargets(db: Db, updates: readonly StatusUpdate[]): Promise<Array<string | null>> {
    const byExternalId = updates.filter((u) => !u.msgUuid && u.externalId);
    const stored = new Map<string, string>();
    if (byExternalId.length > 0) {
      const rows = await db`
        select x.channel_uuid, x.external_id, x.msg_uuid
        from msg_external_ids x
        join unnest(${byExternalId.map((u) => u.channelUuid)}::uuid[], ${byExternalId.map((u) => u.externalId!)}::text[]) as i(channel_uuid, external_id)
          on x.channel_uuid = i.channel_uuid and x.external_id = i.external_id`;
      for (const row of rows) stored.set(`${row.channel_uuid}|${row.external_id}`, row.msg_uuid as string);
    }
    const targets = updates.map((u) => {
      if (u.msgUuid) return UUID.test(u.msgUuid) ? u.msgUuid.toLowerCase() : null;
      if (!u.externalId) return null;
      return stored.get(`${u.channelUuid}|${u.externalId}`) ?? this.externalIds.get(u.channelUuid, u.externalId) ?? null;
    });
    await this.findSentElsewhere(updates, targets);
    return targets;
  }

  /**
   * Fills in, from the shared queue, the provider ids another process sent but has not recorded
   * yet. Best effort: if the queue cannot answer, those updates stay unknown.
   */
  private async findSentElsewhere(updates: readonly StatusUpdate[], targets: Array<string | null>): Promise<void> {
    if (!this.sharedExternalIds) return;
    const missing = new Map<string, number[]>();
    updates.forEach((u, i) => {
      if (targets[i] === null && !u.msgUuid && u.externalId) missing.set(u.channelUuid, [...(missing.get(u.channelUuid) ?? []), i]);
    });
    for (const [channelUuid, indexes] of missing) {
      const found = await this.sharedExternalIds(channelUuid, indexes.map((i) => updates[i]!.externalId!)).catch(() => []);
      indexes.forEach((i, n) => (targets[i] = found[n] ?? null));
    }
  }
}

async function lockMsgs(db: Db, uuids: readonly string[]): Promise<Map<string, MsgState>> {
  const msgs = new Map<string, MsgState>();
  if (uuids.length === 0) return msgs;
  const rows = await db`
    select uuid, org_uuid, channel_uuid, status, failed_reason, sent_on from msgs
    where uuid = any(${uuids}::uuid[]) and direction = 'out'
    order by uuid
    for update`;
  for (const row of rows) {
    msgs.set(row.uuid, {
      uuid: row.uuid,
      orgUuid: row.org_uuid,
      channelUuid: row.channel_uuid,
      status: row.status,
      failedReason: row.failed_reason,
      sentOn: row.sent_on,
      changed: false,
    });
  }
  return msgs;
}

async function saveMsgs(db: Db, msgs: readonly MsgState[]): Promise<void> {
  if (msgs.length === 0) return;
  await db`
    update msgs m set status = u.status, failed_reason = u.failed_reason, sent_on = u.sent_on, modified_on = now()
    from unnest(${msgs.map((m) => m.uuid)}::uuid[], ${msgs.map((m) => m.status)}::text[], ${msgs.map((m) => m.failedReason)}::text[],
      ${msgs.map((m) => iso(m.sentOn))}::timestamptz[]) as u(uuid, status, failed_reason, sent_on)
    where m.uuid = u.uuid`;
}

/** Appends status changes to their messages' history, in the given order. */
export async function insertHistory(db: Db, rows: readonly HistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db`
    insert into msg_status_history (msg_uuid, status, at, reason)
    select h.msg_uuid, h.status, h.at, h.reason
    from unnest(${rows.map((r) => r.msgUuid)}::uuid[], ${rows.map((r) => r.status)}::text[], ${rows.map((r) => iso(r.at))}::timestamptz[],
      ${rows.map((r) => r.reason)}::text[]) with ordinality as h(msg_uuid, status, at, reason, n)
    order by h.n`;
}
