import type { MsgOut, Priority } from '../../src/msg.js';
import type { Urn } from '../../src/urn.js';
import type { Db } from './db.js';
import { insertHistory } from './status-committer.js';

export interface NewOutgoingRow {
  uuid: string;
  orgUuid: string;
  channelUuid: string;
  contactUuid: string;
  urn: Urn;
  text: string;
  attachments: string[];
  quickReplies: string[];
  priority: Priority;
  cost: number;
  metadata: Record<string, unknown> | null;
  sendAt: Date | null;
  idempotency: { key: string; requestHash: string } | null;
  now: Date;
}

/**
 * Stores an outgoing message as `queued`, due at its `sendAt` (or now), marked as pushed now
 * (the caller pushes it next, and clears the mark with `markNotPushed` if that fails), with its
 * first history row. Answers the stored message.
 *
 * @example const msg = await insertOutgoing(tx, { uuid, orgUuid, channelUuid, contactUuid, … });
 */
export async function insertOutgoing(db: Db, row: NewOutgoingRow): Promise<MsgOut> {
  const [stored] = await db`
    insert into msgs (uuid, org_uuid, channel_uuid, contact_uuid, direction, urn, text, attachments, quick_replies, status,
                      priority, cost, metadata, send_at, next_attempt_at, pushed_on, idempotency_key, idempotency_hash,
                      created_on, modified_on)
    values (${row.uuid}, ${row.orgUuid}, ${row.channelUuid}, ${row.contactUuid}, 'out', ${row.urn}, ${row.text},
            ${row.attachments}::text[], ${row.quickReplies}::text[], 'queued', ${row.priority}, ${row.cost},
            ${row.metadata ? JSON.stringify(row.metadata) : null}::text::jsonb, ${row.sendAt}, ${row.sendAt ?? row.now},
            ${row.now}, ${row.idempotency?.key ?? null}, ${row.idempotency?.requestHash ?? null}, ${row.now}, ${row.now})
    returning *`;
  await insertHistory(db, [{ msgUuid: row.uuid, status: 'queued', at: row.now, reason: null }]);
  return msgOutFromRow(stored!);
}

/** Clears a message's pushed mark after its push failed, so the reconciler pushes it at once. */
export async function markNotPushed(db: Db, uuid: string): Promise<void> {
  await db`update msgs set pushed_on = null where uuid = ${uuid}`;
}

export interface Claimed {
  msg: MsgOut;
  orgUuid: string;
  contactStopped: boolean;
}

/**
 * Claims a message for sending until `leaseUntil`, in one statement: only a `queued` or
 * `errored` outgoing message that is due and not claimed by a live lease. Null when it cannot be
 * claimed (already claimed, sent, failed, not due yet, or unknown).
 *
 * @example const claimed = await claimOutgoing(sql, uuid, new Date(), new Date(Date.now() + 300_000));
 */
export async function claimOutgoing(db: Db, uuid: string, now: Date, leaseUntil: Date): Promise<Claimed | null> {
  const [row] = await db`
    update msgs m set lease_until = ${leaseUntil}, modified_on = ${now}
    from contacts c
    where m.uuid = ${uuid} and c.uuid = m.contact_uuid
      and m.direction = 'out' and m.status in ('queued', 'errored')
      and (m.lease_until is null or m.lease_until < ${now})
      and (m.next_attempt_at is null or m.next_attempt_at <= ${now})
    returning m.*, c.name as contact_name, c.stopped_on is not null as contact_stopped`;
  if (!row) return null;
  return { msg: msgOutFromRow(row), orgUuid: row.org_uuid, contactStopped: row.contact_stopped };
}

/** A `msgs` row as the MsgOut a Sender sees. */
export function msgOutFromRow(row: Record<string, any>): MsgOut {
  return {
    uuid: row.uuid,
    channelUuid: row.channel_uuid,
    urn: row.urn,
    text: row.text,
    attachments: row.attachments,
    quickReplies: row.quick_replies,
    priority: row.priority,
    status: row.status,
    errorCount: row.error_count,
    createdOn: row.created_on,
    ...(row.external_id ? { externalId: row.external_id } : {}),
    ...(row.contact_name ? { contactName: row.contact_name } : {}),
    ...(row.metadata ? { metadata: row.metadata } : {}),
    ...(row.send_at ? { sendAt: row.send_at } : {}),
  };
}
