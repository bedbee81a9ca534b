import { newUuid } from '../../src/uuid.js';
import type { MsgIn } from '../../src/msg.js';
import { contactCtes, urnIdentity, urnDisplay } from './contacts.js';
import { iso, type Db } from './db.js';

/** DESIGN §3: the same provider message within 48 h, or the same text within a few seconds. */
const EXTERNAL_ID_WINDOW_MS = 48 * 3600_000;
const SAME_TEXT_WINDOW_MS = 5_000;
/** Statements per batch before giving up on URNs that other writers keep creating first. */
const MAX_ATTEMPTS = 3;

export interface IncomingRow {
  msg: MsgIn;
  orgUuid: string;
}

/**
 * Stores incoming messages, each with its contact (found or created) and a `message.received`
 * outbox event, and answers, per row, the uuid it is stored under.
 *
 * - A duplicate (DESIGN §3) of a stored message, or of an earlier row of the same call, answers
 *   the first message's uuid and is not stored. A row whose uuid is already stored (a spool
 *   replay) is not stored twice and answers its own uuid.
 * - Usually one statement (one round trip, its own transaction): deduplication, contacts and
 *   their URNs, messages and outbox rows are data-modifying CTEs of one `insert`. A URN that
 *   another writer created after the statement's snapshot was taken cannot be seen by it (the
 *   unique (org, identity) makes this statement skip its own copy): its rows are left out and
 *   stored by the next statement, which sees the winner's contact.
 *
 * @example const uuids = await storeIncomingMsgs(sql, [{ msg, orgUuid }]);
 */
export async function storeIncomingMsgs(db: Db, rows: readonly IncomingRow[]): Promise<string[]> {
  const sameAs = earlierCopies(rows.map((r) => r.msg));
  const answers: Array<string | undefined> = rows.map(() => undefined);
  let pending = rows.flatMap((_, i) => (sameAs[i] === i ? [i] : []));
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS) throw new Error(`contacts for ${pending.length} incoming messages kept being created by other writers`);
    const stored = await storeOnce(db, pending.map((i) => rows[i]!));
    pending = pending.filter((i, k) => {
      answers[i] = stored[k];
      return stored[k] === undefined;
    });
  }
  return rows.map((_, i) => answers[sameAs[i]!]!);
}

/** For each message, the index of the first message of the list it repeats (itself if none). */
function earlierCopies(msgs: readonly MsgIn[]): number[] {
  const sameAs: number[] = [];
  const firsts = new Map<string, number[]>();
  msgs.forEach((msg, i) => {
    const key = msg.externalId
      ? JSON.stringify(['id', msg.channelUuid, msg.urn, msg.externalId])
      : JSON.stringify(['text', msg.channelUuid, msg.urn, msg.text, msg.attachments]);
    const earlier = firsts.get(key) ?? [];
    const window = msg.externalId ? EXTERNAL_ID_WINDOW_MS : SAME_TEXT_WINDOW_MS;
    const match = earlier.find((j) => Math.abs(msgs[j]!.receivedOn.getTime() - msg.receivedOn.getTime()) < window);
    sameAs.push(match ?? i);
    if (match === undefined) firsts.set(key, [...earlier, i]);
  });
  return sameAs;
}

/**
 * One statement for rows that repeat no other row: answers per row the uuid it is stored under,
 * or undefined when its contact's URN was created meanwhile by another writer.
 */
async function storeOnce(db: Db, rows: readonly IncomingRow[]): Promise<Array<string | undefined>> {
  const answers = await db`
    with input as (
      select * from unnest(
        ${rows.map((r) => r.msg.uuid)}::uuid[], ${rows.map((r) => r.orgUuid)}::uuid[], ${rows.map((r) => r.msg.channelUuid)}::uuid[],
        ${rows.map((r) => r.msg.urn)}::text[], ${rows.map((r) => urnIdentity(r.msg.urn))}::text[], ${rows.map((r) => urnDisplay(r.msg.urn))}::text[],
        ${rows.map((r) => r.msg.contactName ?? null)}::text[], ${rows.map((r) => r.msg.text)}::text[],
        ${rows.map((r) => JSON.stringify(r.msg.attachments))}::text[], ${rows.map((r) => r.msg.externalId ?? null)}::text[],
        ${rows.map((r) => iso(r.msg.receivedOn))}::timestamptz[], ${rows.map(() => newUuid())}::uuid[]
      ) with ordinality as i(uuid, org_uuid, channel_uuid, urn, identity, display, name, text, attachments, external_id, at, new_contact, n)
    ),
    duplicates as (
      select i.n, d.uuid
      from input i
      cross join lateral (
        select m.uuid from msgs m
        where m.direction = 'in' and m.channel_uuid = i.channel_uuid and m.urn = i.urn
          and (
            (i.external_id is not null and m.external_id = i.external_id
              and m.created_on > i.at - ${EXTERNAL_ID_WINDOW_MS} * interval '1 millisecond'
              and m.created_on < i.at + ${EXTERNAL_ID_WINDOW_MS} * interval '1 millisecond')
            or
            (i.external_id is null and m.external_id is null and m.text = i.text and to_jsonb(m.attachments) = i.attachments::jsonb
              and m.created_on > i.at - ${SAME_TEXT_WINDOW_MS} * interval '1 millisecond'
              and m.created_on < i.at + ${SAME_TEXT_WINDOW_MS} * interval '1 millisecond')
          )
        order by m.created_on, m.uuid
        limit 1
      ) d
    ),
    fresh as (
      select i.* from input i where not exists (select 1 from duplicates d where d.n = i.n)
    ),
    -- One new contact per URN identity, named after its first message.
    wanted as (
      select distinct on (org_uuid, identity) org_uuid, identity, display, name, new_contact
      from fresh
      order by org_uuid, identity, n
    ),
    ${contactCtes(db)},
    stored as (
      insert into msgs (uuid, org_uuid, channel_uuid, contact_uuid, direction, urn, text, attachments, status, external_id, created_on, modified_on)
      select f.uuid, f.org_uuid, f.channel_uuid, c.contact_uuid, 'in', f.urn, f.text,
             array(select jsonb_array_elements_text(f.attachments::jsonb)), 'pending', f.external_id, f.at, now()
      from fresh f join contact_of c on c.org_uuid = f.org_uuid and c.identity = f.identity
      order by f.n
      on conflict (uuid) do nothing
      returning uuid, org_uuid, channel_uuid, contact_uuid, urn, text, attachments, external_id, created_on
    ),
    events as (
      insert into outbox (org_uuid, type, data)
      select org_uuid, 'message.received', jsonb_build_object(
        'uuid', uuid, 'direction', 'in', 'channel_uuid', channel_uuid, 'contact_uuid', contact_uuid, 'urn', urn,
        'text', text, 'attachments', to_jsonb(attachments), 'external_id', external_id, 'created_on', to_char(created_on at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
      from stored
      order by created_on, uuid
    )
    select i.n, coalesce(d.uuid, case when c.contact_uuid is not null then i.uuid end) as answer
    from input i
    left join duplicates d on d.n = i.n
    left join contact_of c on c.org_uuid = i.org_uuid and c.identity = i.identity`;
  const byRow: Array<string | undefined> = rows.map(() => undefined);
  for (const a of answers) byRow[Number(a.n) - 1] = (a.answer as string | null) ?? undefined;
  return byRow;
}
