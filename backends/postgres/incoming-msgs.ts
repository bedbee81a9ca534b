import type { MsgIn } from '../../src/msg.js';
import { iso, type Db } from './db.js';

/** DESIGN §3: the same provider message within 48 h, or the same text within a few seconds. */
const EXTERNAL_ID_WINDOW_MS = 48 * 3600_000;
const SAME_TEXT_WINDOW_MS = 5_000;

export interface IncomingRow {
  msg: MsgIn;
  orgUuid: string;
  contactUuid: string;
}

/** Which messages of a batch duplicate another: found before the batch's contacts exist. */
export interface IncomingDuplicates {
  /** For each message, the index of the first message of the batch it repeats (itself if none). */
  sameAs: number[];
  /** For each message that is first of its kind in the batch, the stored message it repeats. */
  stored: Map<number, string>;
}

/**
 * Finds, in one statement, which of `msgs` duplicate a message already stored or an earlier one
 * of the same batch (DESIGN §3), for `insertIncomingMsgs`.
 *
 * @example const duplicates = await findIncomingDuplicates(tx, msgs);
 */
export async function findIncomingDuplicates(db: Db, msgs: readonly MsgIn[]): Promise<IncomingDuplicates> {
  const sameAs: number[] = [];
  const firsts = new Map<string, number[]>();
  msgs.forEach((msg, i) => {
    const key = dedupeKey(msg);
    const earlier = firsts.get(key) ?? [];
    const window = msg.externalId ? EXTERNAL_ID_WINDOW_MS : SAME_TEXT_WINDOW_MS;
    const match = earlier.find((j) => Math.abs(msgs[j]!.receivedOn.getTime() - msg.receivedOn.getTime()) < window);
    sameAs.push(match ?? i);
    if (match === undefined) firsts.set(key, [...earlier, i]);
  });
  const candidates = msgs.flatMap((_, i) => (sameAs[i] === i ? [i] : []));
  const found = await findStoredDuplicates(db, candidates.map((i) => msgs[i]!));
  const stored = new Map<number, string>();
  for (const [n, uuid] of found) stored.set(candidates[n]!, uuid);
  return { sameAs, stored };
}

/**
 * Stores incoming messages with a `message.received` event each, and answers, per row, the uuid
 * it is stored under: a duplicate (as `findIncomingDuplicates` found for the same messages, in
 * the same order) answers the first message's uuid and is not stored. A row whose uuid is already
 * stored (a spool replay) is not stored twice.
 *
 * @example const uuids = await insertIncomingMsgs(tx, await findIncomingDuplicates(tx, msgs), rows);
 */
export async function insertIncomingMsgs(db: Db, duplicates: IncomingDuplicates, rows: readonly IncomingRow[]): Promise<string[]> {
  const { sameAs, stored } = duplicates;
  const answers: string[] = rows.map((row) => row.msg.uuid);
  const fresh: IncomingRow[] = [];
  rows.forEach((row, i) => {
    if (sameAs[i] !== i) return;
    const original = stored.get(i);
    if (original) answers[i] = original;
    else fresh.push(row);
  });
  rows.forEach((_, i) => (answers[i] = answers[sameAs[i]!]!));
  await insertFresh(db, fresh);
  return answers;
}

function dedupeKey(msg: MsgIn): string {
  return msg.externalId
    ? JSON.stringify(['id', msg.channelUuid, msg.urn, msg.externalId])
    : JSON.stringify(['text', msg.channelUuid, msg.urn, msg.text, msg.attachments]);
}

/** For each message that duplicates a stored one, its index → the stored message's uuid. */
async function findStoredDuplicates(db: Db, msgs: readonly MsgIn[]): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  if (msgs.length === 0) return found;
  const rows = await db`
    select i.n, d.uuid
    from unnest(
      ${msgs.map((m) => m.channelUuid)}::uuid[], ${msgs.map((m) => m.urn)}::text[], ${msgs.map((m) => m.externalId ?? null)}::text[],
      ${msgs.map((m) => m.text)}::text[], ${msgs.map((m) => JSON.stringify(m.attachments))}::text[], ${msgs.map((m) => iso(m.receivedOn))}::timestamptz[]
    ) with ordinality as i(channel_uuid, urn, external_id, text, attachments, at, n)
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
    ) d`;
  for (const row of rows) found.set(Number(row.n) - 1, row.uuid as string);
  return found;
}

async function insertFresh(db: Db, rows: readonly IncomingRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db`
    with ins as (
      insert into msgs (uuid, org_uuid, channel_uuid, contact_uuid, direction, urn, text, attachments, status, external_id, created_on, modified_on)
      select i.uuid, i.org_uuid, i.channel_uuid, i.contact_uuid, 'in', i.urn, i.text,
             array(select jsonb_array_elements_text(i.attachments::jsonb)), 'pending', i.external_id, i.at, now()
      from unnest(
        ${rows.map((r) => r.msg.uuid)}::uuid[], ${rows.map((r) => r.orgUuid)}::uuid[], ${rows.map((r) => r.msg.channelUuid)}::uuid[],
        ${rows.map((r) => r.contactUuid)}::uuid[], ${rows.map((r) => r.msg.urn)}::text[], ${rows.map((r) => r.msg.text)}::text[],
        ${rows.map((r) => JSON.stringify(r.msg.attachments))}::text[], ${rows.map((r) => r.msg.externalId ?? null)}::text[],
        ${rows.map((r) => iso(r.msg.receivedOn))}::timestamptz[]
      ) with ordinality as i(uuid, org_uuid, channel_uuid, contact_uuid, urn, text, attachments, external_id, at, n)
      order by i.n
      on conflict (uuid) do nothing
      returning uuid, org_uuid, channel_uuid, contact_uuid, urn, text, attachments, external_id, created_on
    )
    insert into outbox (org_uuid, type, data)
    select org_uuid, 'message.received', jsonb_build_object(
      'uuid', uuid, 'direction', 'in', 'channel_uuid', channel_uuid, 'contact_uuid', contact_uuid, 'urn', urn,
      'text', text, 'attachments', to_jsonb(attachments), 'external_id', external_id, 'created_on', created_on)
    from ins
    order by created_on, uuid`;
}
