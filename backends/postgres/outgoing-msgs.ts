import type { OutgoingSpec } from '../../src/backend.js';
import { newUuid } from '../../src/uuid.js';
import type { MsgOut } from '../../src/msg.js';
import { contactCtes, urnDisplay, urnIdentity } from './contacts.js';
import { iso, type Db } from './db.js';

/** What became of one row given to `insertOutgoing`. */
export type OutgoingInsert =
  | { kind: 'stored'; msg: MsgOut; contact: { uuid: string; name: string | null } }
  /** Not stored: its contact is stopped (only when stopped contacts are refused). */
  | { kind: 'contact_stopped' }
  /** Not stored: the org already has a message with its idempotency key. */
  | { kind: 'idempotency_key_taken' }
  /** Not stored yet: another writer was creating its contact; store it again. */
  | { kind: 'retry' };

/**
 * Stores outgoing messages as `queued`, in one statement: each with its contact (found or
 * created, see contactCtes), due at its `sendAt` (or now), marked as pushed now (the caller
 * pushes it next, and clears the mark with `markNotPushed` if that fails), with its first history
 * row. Answers, per row, what became of it.
 *
 * @example const [result] = await insertOutgoing(sql, [row], { now: new Date(), refuseStopped: true });
 */
export async function insertOutgoing(
  db: Db,
  rows: readonly OutgoingSpec[],
  opts: { now: Date; refuseStopped: boolean },
): Promise<OutgoingInsert[]> {
  const results = await db`
    with input as (
      select * from unnest(
        ${rows.map((r) => r.uuid)}::uuid[], ${rows.map((r) => r.orgUuid)}::uuid[], ${rows.map((r) => r.channelUuid)}::uuid[],
        ${rows.map((r) => r.urn)}::text[], ${rows.map((r) => urnIdentity(r.urn))}::text[], ${rows.map((r) => urnDisplay(r.urn))}::text[],
        ${rows.map((r) => r.text)}::text[], ${rows.map((r) => JSON.stringify(r.attachments))}::text[],
        ${rows.map((r) => JSON.stringify(r.quickReplies))}::text[], ${rows.map((r) => r.priority)}::text[], ${rows.map((r) => r.cost)}::integer[],
        ${rows.map((r) => (r.metadata ? JSON.stringify(r.metadata) : null))}::text[], ${rows.map((r) => iso(r.sendAt))}::timestamptz[],
        ${rows.map((r) => r.idempotency?.key ?? null)}::text[], ${rows.map((r) => r.idempotency?.requestHash ?? null)}::text[],
        ${rows.map(() => newUuid())}::uuid[]
      ) with ordinality as i(uuid, org_uuid, channel_uuid, urn, identity, display, text, attachments, quick_replies, priority, cost,
                             metadata, send_at, idempotency_key, idempotency_hash, new_contact, n)
    ),
    wanted as (
      select distinct on (org_uuid, identity) org_uuid, identity, display, null::text as name, new_contact
      from input
      order by org_uuid, identity, n
    ),
    ${contactCtes(db)},
    -- A contact created by this statement is not visible to it here: no name, not stopped.
    people as (
      select c.org_uuid, c.identity, c.contact_uuid, k.name, k.stopped_on is not null as stopped
      from contact_of c left join contacts k on k.uuid = c.contact_uuid
    ),
    stored as (
      insert into msgs (uuid, org_uuid, channel_uuid, contact_uuid, direction, urn, text, attachments, quick_replies, status,
                        priority, cost, metadata, send_at, next_attempt_at, pushed_on, idempotency_key, idempotency_hash,
                        created_on, modified_on)
      select i.uuid, i.org_uuid, i.channel_uuid, p.contact_uuid, 'out', i.urn, i.text,
             array(select jsonb_array_elements_text(i.attachments::jsonb)), array(select jsonb_array_elements_text(i.quick_replies::jsonb)),
             'queued', i.priority, i.cost, i.metadata::jsonb, i.send_at, coalesce(i.send_at, ${opts.now}), ${opts.now},
             i.idempotency_key, i.idempotency_hash, ${opts.now}, ${opts.now}
      from input i join people p on p.org_uuid = i.org_uuid and p.identity = i.identity
      where not (p.stopped and ${opts.refuseStopped})
      order by i.n
      on conflict do nothing
      returning *
    ),
    history as (
      insert into msg_status_history (msg_uuid, status, at) select uuid, 'queued', created_on from stored
    )
    select i.n, i.idempotency_key as wanted_key, p.contact_uuid as person, p.name as person_name, p.stopped as person_stopped, s.*
    from input i
    left join people p on p.org_uuid = i.org_uuid and p.identity = i.identity
    left join stored s on s.uuid = i.uuid`;
  const byRow: OutgoingInsert[] = rows.map(() => ({ kind: 'retry' }));
  for (const r of results) {
    const n = Number(r.n) - 1;
    if (r.uuid) byRow[n] = { kind: 'stored', msg: msgOutFromRow(r), contact: { uuid: r.person, name: r.person_name } };
    else if (r.person === null) byRow[n] = { kind: 'retry' };
    else if (r.person_stopped && opts.refuseStopped) byRow[n] = { kind: 'contact_stopped' };
    else if (r.wanted_key !== null) byRow[n] = { kind: 'idempotency_key_taken' };
    else throw new Error(`outgoing message ${rows[n]!.uuid} is already stored`);
  }
  return byRow;
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
 * Claims messages for sending until `leaseUntil`, in one statement: each that is an outgoing
 * message, `queued` or `errored`, due, and not claimed by a live lease. Answers the claimed ones
 * by uuid; a message missing from the answer could not be claimed (already claimed, sent,
 * failed, not due yet, or unknown).
 *
 * @example const claimed = await claimOutgoing(sql, [uuid], new Date(), new Date(Date.now() + 300_000));
 */
export async function claimOutgoing(db: Db, uuids: readonly string[], now: Date, leaseUntil: Date): Promise<Map<string, Claimed>> {
  const rows = await db`
    update msgs m set lease_until = ${leaseUntil}, modified_on = ${now}
    from contacts c
    where m.uuid = any(${uuids}::uuid[]) and c.uuid = m.contact_uuid
      -- Inside a CASE, so the planner cannot match these to msgs_out_waiting's predicate and scan
      -- that whole index for a few uuids (it did, on a table not analysed yet: 8 ms a claim).
      and case when m.direction = 'out' and m.status in ('queued', 'errored') then true else false end
      and (m.lease_until is null or m.lease_until < ${now})
      and (m.next_attempt_at is null or m.next_attempt_at <= ${now})
    returning m.*, c.name as contact_name, c.stopped_on is not null as contact_stopped`;
  return new Map(rows.map((row) => [row.uuid as string, { msg: msgOutFromRow(row), orgUuid: row.org_uuid, contactStopped: row.contact_stopped }]));
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
