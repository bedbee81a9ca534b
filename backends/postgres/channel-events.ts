import type { ChannelEvent } from '../../src/event.js';
import { stopContacts } from './contacts.js';
import { iso, type Db } from './db.js';

export interface EventRow {
  event: ChannelEvent;
  orgUuid: string;
  contactUuid: string;
}

/**
 * Stores channel events with a `channel.event` outbox row each; a `stop_contact` event also
 * stops its contact. An event whose uuid is already stored (a spool replay) is skipped.
 *
 * @example await insertChannelEvents(tx, [{ event, orgUuid, contactUuid }]);
 */
export async function insertChannelEvents(db: Db, rows: readonly EventRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db`
    with ins as (
      insert into channel_events (uuid, org_uuid, channel_uuid, contact_uuid, type, urn, extra, created_on)
      select i.uuid, i.org_uuid, i.channel_uuid, i.contact_uuid, i.type, i.urn, i.extra::jsonb, i.at
      from unnest(
        ${rows.map((r) => r.event.uuid)}::uuid[], ${rows.map((r) => r.orgUuid)}::uuid[], ${rows.map((r) => r.event.channelUuid)}::uuid[],
        ${rows.map((r) => r.contactUuid)}::uuid[], ${rows.map((r) => r.event.type)}::text[], ${rows.map((r) => r.event.urn)}::text[],
        ${rows.map((r) => (r.event.extra ? JSON.stringify(r.event.extra) : null))}::text[], ${rows.map((r) => iso(r.event.receivedOn))}::timestamptz[]
      ) with ordinality as i(uuid, org_uuid, channel_uuid, contact_uuid, type, urn, extra, at, n)
      order by i.n
      on conflict (uuid) do nothing
      returning uuid, org_uuid, channel_uuid, contact_uuid, type, urn, extra, created_on
    )
    insert into outbox (org_uuid, type, data)
    select org_uuid, 'channel.event', jsonb_build_object(
      'uuid', uuid, 'channel_uuid', channel_uuid, 'event_type', type, 'urn', urn, 'contact_uuid', contact_uuid,
      'extra', extra, 'created_on', to_char(created_on at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    from ins
    order by created_on, uuid`;
  await stopContacts(
    db,
    rows
      .filter((r) => r.event.type === 'stop_contact')
      .map((r) => ({ orgUuid: r.orgUuid, contactUuid: r.contactUuid, urn: r.event.urn, reason: 'stop_contact', at: r.event.receivedOn })),
  );
}
