import { newUuid } from '../../src/uuid.js';
import type { ChannelLog } from '../../src/channel-log.js';
import type { MsgStatus } from '../../src/msg.js';
import { retryDelayMs, type RetryPolicy } from '../../src/retry.js';
import { canTransition } from '../../src/status-rules.js';
import type { Urn } from '../../src/urn.js';
import { insertChannelEvents } from './channel-events.js';
import { insertChannelLogs } from './channel-logs.js';
import type { Db } from './db.js';
import { insertOutbox } from './outbox.js';
import { insertHistory } from './status-committer.js';

/** What every outcome needs to know about the message; all run inside one transaction. */
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

export interface OutcomeTarget {
  uuid: string;
  channelUuid: string;
  log: ChannelLog;
  now: Date;
}

interface Locked {
  orgUuid: string;
  contactUuid: string;
  urn: Urn;
  status: MsgStatus;
  errorCount: number;
}

/**
 * A send the provider accepted: its ids, `sent_on`, the status (forward only: a delivery report
 * that raced ahead is kept), the lease cleared, the channel log. The ids are stored first, so a
 * report arriving meanwhile is matched by the in-process cache until this commits.
 */
export async function recordSent(db: Db, target: OutcomeTarget, status: 'wired' | 'sent', externalIds: readonly string[]): Promise<void> {
  if (externalIds.length > 0) {
    await db`
      insert into msg_external_ids (channel_uuid, external_id, msg_uuid)
      select ${target.channelUuid}, x, ${target.uuid} from unnest(${externalIds}::text[]) as x
      on conflict (channel_uuid, external_id) do update set msg_uuid = excluded.msg_uuid, created_on = now()`;
  }
  const msg = await lock(db, target.uuid);
  if (msg) {
    await db`
      update msgs set external_id = coalesce(${externalIds[0] ?? null}, external_id), sent_on = coalesce(sent_on, ${target.now}),
                      lease_until = null, modified_on = ${target.now}
      where uuid = ${target.uuid}`;
    await move(db, target, msg, status, null);
  }
  await insertChannelLogs(db, [target.log]);
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
  await insertChannelLogs(db, [target.log]);
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
  await insertChannelLogs(db, [target.log]);
}

/** A throttled send: the claim is released so the message can be popped again; its log kept. */
export async function recordThrottled(db: Db, target: OutcomeTarget): Promise<void> {
  await db`update msgs set lease_until = null where uuid = ${target.uuid}`;
  await insertChannelLogs(db, [target.log]);
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
