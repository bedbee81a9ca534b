import { newUuid } from '../../src/uuid.js';
import type { ChannelLog } from '../../src/channel-log.js';
import { MSG_STATUSES, type MsgStatus } from '../../src/msg.js';
import { retryDelayMs, type RetryPolicy } from '../../src/retry.js';
import { canTransition } from '../../src/status-rules.js';
import type { Urn } from '../../src/urn.js';
import { insertChannelEvents } from './channel-events.js';
import { iso, type Db } from './db.js';
import { insertOutbox } from './outbox.js';
import { insertHistory } from './status-committer.js';

/**
 * The channel log of a message settled without calling its provider (its channel was deleted, or
 * its outcome was lost and is recorded late).
 *
 * @example unsentLog(msg, 'channel_deleted', 'channel … was deleted; message not sent', true)
 */
export function unsentLog(msg: { uuid: string; channelUuid: string }, code: string, message: string, isError: boolean): ChannelLog {
  return {
    uuid: newUuid(),
    type: 'msg_send',
    channelUuid: msg.channelUuid,
    msgUuid: msg.uuid,
    httpLogs: [],
    errors: [{ code, message }],
    isError,
    elapsedMs: 0,
    createdOn: new Date(),
  };
}

/**
 * What every outcome needs to know about its message. The functions below run inside one
 * transaction and leave the send's channel log to their caller, which stores a batch's logs in
 * one statement.
 */
export interface OutcomeTarget {
  uuid: string;
  channelUuid: string;
  now: Date;
}

interface Locked {
  orgUuid: string;
  contactUuid: string;
  urn: Urn;
  status: MsgStatus;
  errorCount: number;
}

/** A send the provider accepted, as `recordSent` takes it. */
export interface SentOutcome {
  target: OutcomeTarget;
  status: 'wired' | 'sent';
  externalIds: readonly string[];
}

/** Every (from, to) move a send's `wired` or `sent` may make, by status-rules.ts. */
const MOVES_ON_SENT = MSG_STATUSES.flatMap((from) => (['wired', 'sent'] as const).filter((to) => canTransition(from, to)).map((to) => ({ from, to })));

/**
 * Sends their providers accepted, all in one statement plus one for their ids: each message's
 * ids, `sent_on`, the lease cleared, and its status moved forward (a delivery report that raced
 * ahead is kept) with a history row and a `message.status` event. The ids go first (their rows
 * key-share-lock their messages, in uuid order), so a delivery report arriving meanwhile is
 * matched by the in-process cache and applied before this takes its message's row lock; the
 * messages are then locked in uuid order, as the status committer locks its own. A deadlock with
 * a concurrent status batch is still possible when this batch's other outcomes (locked in job
 * order) interleave with it: Postgres breaks it within `deadlock_timeout` (1 s) and the group
 * commit retries each outcome alone. Channel logs are the caller's (see OutcomeCommitter).
 *
 * @example await recordSent(tx, [{ target, status: 'wired', externalIds: ['SM123'] }]);
 */
export async function recordSent(db: Db, sends: readonly SentOutcome[]): Promise<void> {
  if (sends.length === 0) return;
  // One row per provider id: a later send of the same id wins, as it would one statement later.
  const ids = new Map<string, { channelUuid: string; externalId: string; msgUuid: string }>();
  for (const { target, externalIds } of sends) {
    for (const externalId of externalIds) ids.set(`${target.channelUuid} ${externalId}`, { channelUuid: target.channelUuid, externalId, msgUuid: target.uuid });
  }
  const rows = [...ids.values()];
  const storeIds =
    rows.length === 0
      ? null
      : db`
          insert into msg_external_ids (channel_uuid, external_id, msg_uuid)
          select * from unnest(${rows.map((i) => i.channelUuid)}::uuid[], ${rows.map((i) => i.externalId)}::text[], ${rows.map((i) => i.msgUuid)}::uuid[])
            as i(channel_uuid, external_id, msg_uuid)
          order by i.msg_uuid
          on conflict (channel_uuid, external_id) do update set msg_uuid = excluded.msg_uuid, created_on = now()`.execute();
  const moveAll = db`
    with input as (
      select * from unnest(${sends.map((s) => s.target.uuid)}::uuid[], ${sends.map((s) => s.target.channelUuid)}::uuid[],
        ${sends.map((s) => s.status)}::text[], ${sends.map((s) => s.externalIds[0] ?? null)}::text[], ${sends.map((s) => iso(s.target.now))}::text[])
        with ordinality as i(uuid, channel_uuid, status, external_id, at, n)
    ),
    moves as (select * from unnest(${MOVES_ON_SENT.map((m) => m.from)}::text[], ${MOVES_ON_SENT.map((m) => m.to)}::text[]) as a(from_status, to_status)),
    locked as (
      select m.uuid, m.org_uuid, m.status from msgs m where m.uuid in (select uuid from input) order by m.uuid for update
    ),
    updated as (
      update msgs m set external_id = coalesce(i.external_id, m.external_id), sent_on = coalesce(m.sent_on, i.at::timestamptz),
        lease_until = null, modified_on = i.at::timestamptz,
        status = case when a.to_status is null then m.status else i.status end
      from input i join locked l on l.uuid = i.uuid left join moves a on a.from_status = l.status and a.to_status = i.status
      where m.uuid = i.uuid
      returning i.n, i.uuid, l.org_uuid, i.channel_uuid, i.status, i.at, a.to_status is not null as moved
    ),
    history as (
      insert into msg_status_history (msg_uuid, status, at, reason)
      select uuid, status, at::timestamptz, null from updated where moved order by n
    )
    insert into outbox (org_uuid, type, data)
    select org_uuid, 'message.status', jsonb_build_object('msg_uuid', uuid, 'channel_uuid', channel_uuid, 'status', status, 'created_on', at)
    from updated where moved order by n`.execute();
  await Promise.all([storeIds, moveAll]);
}

/**
 * A send that may work later: `errored` and due again after the policy's back-off, or `failed`
 * once the retries are used. Answers when to push it again (null when it failed or is gone).
 */
export async function recordErrored(db: Db, target: OutcomeTarget, reason: string, policy: RetryPolicy): Promise<Date | null> {
  const msg = await lock(db, target.uuid);
  let retryAt: Date | null = null;
  if (msg) {
    const errorCount = msg.errorCount + 1;
    const delay = retryDelayMs(errorCount, policy);
    if (delay === null) {
      await db`update msgs set error_count = ${errorCount}, lease_until = null where uuid = ${target.uuid}`;
      await fail(db, target, msg, `${reason} (after ${policy.maxRetries} retries)`);
    } else if (canTransition(msg.status, 'errored')) {
      retryAt = new Date(target.now.getTime() + delay);
      await db`
        update msgs set error_count = ${errorCount}, next_attempt_at = ${retryAt}, pushed_on = ${target.now}, lease_until = null
        where uuid = ${target.uuid}`;
      await move(db, target, msg, 'errored', reason);
    } else {
      await db`update msgs set lease_until = null where uuid = ${target.uuid}`;
    }
  }
  return retryAt;
}

/**
 * A send that will never work: `failed` with its reason. With `stopContact` (the person blocked
 * the channel) the contact is stopped too, with a `stop_contact` channel event.
 */
export async function recordFailed(db: Db, target: OutcomeTarget, reason: string, stopContact: boolean): Promise<void> {
  const msg = await lock(db, target.uuid);
  if (msg) {
    await db`update msgs set lease_until = null where uuid = ${target.uuid}`;
    await fail(db, target, msg, reason);
    if (stopContact) {
      await insertChannelEvents(db, [
        {
          event: { uuid: newUuid(), channelUuid: target.channelUuid, type: 'stop_contact', urn: msg.urn, receivedOn: target.now },
          orgUuid: msg.orgUuid,
          contactUuid: msg.contactUuid,
        },
      ]);
    }
  }
}

/** A throttled send: the claim is released so the message can be popped again. */
export async function recordThrottled(db: Db, target: OutcomeTarget): Promise<void> {
  await db`update msgs set lease_until = null where uuid = ${target.uuid}`;
}

async function lock(db: Db, uuid: string): Promise<Locked | null> {
  const [row] = await db`select org_uuid, contact_uuid, urn, status, error_count from msgs where uuid = ${uuid} for update`;
  return row ? { orgUuid: row.org_uuid, contactUuid: row.contact_uuid, urn: row.urn, status: row.status, errorCount: row.error_count } : null;
}

async function fail(db: Db, target: OutcomeTarget, msg: Locked, reason: string): Promise<void> {
  if (!canTransition(msg.status, 'failed')) return;
  await db`update msgs set failed_reason = ${reason} where uuid = ${target.uuid}`;
  await move(db, target, msg, 'failed', reason);
}

/** Moves the status forward if it may move, with its history and outbox rows. */
async function move(db: Db, target: OutcomeTarget, msg: Locked, status: MsgStatus, reason: string | null): Promise<void> {
  if (!canTransition(msg.status, status)) return;
  await db`update msgs set status = ${status}, modified_on = ${target.now} where uuid = ${target.uuid}`;
  await insertHistory(db, [{ msgUuid: target.uuid, status, at: target.now, reason }]);
  await insertOutbox(db, [
    {
      orgUuid: msg.orgUuid,
      type: 'message.status',
      data: {
        msg_uuid: target.uuid,
        channel_uuid: target.channelUuid,
        status,
        ...(reason ? { reason } : {}),
        created_on: target.now.toISOString(),
      },
    },
  ]);
}
