import { newUuid } from '../../src/uuid.js';
import type { Urn } from '../../src/urn.js';
import { iso, type Db } from './db.js';
import { insertOutbox, type OutboxEvent } from './outbox.js';

/** A person to find or create: one contact per org and URN identity. */
export interface ContactRef {
  orgUuid: string;
  urn: Urn;
  name?: string | undefined;
}

/**
 * The URN a contact is known by: without its `#display` part.
 *
 * @example urnIdentity('telegram:123#bob') // 'telegram:123'
 */
export function urnIdentity(urn: string): string {
  const hash = urn.indexOf('#');
  return hash < 0 ? urn : urn.slice(0, hash);
}

/** The `#display` part of a URN (`telegram:123#bob` → `bob`), or null. */
export function urnDisplay(urn: string): string | null {
  const hash = urn.indexOf('#');
  return hash < 0 ? null : urn.slice(hash + 1);
}

/**
 * Common table expressions that find or create a contact for each row of a CTE named `wanted`
 * (`org_uuid, identity, display, name, new_contact`: one row per URN identity, `new_contact` the
 * uuid to give a contact created for it), for statements that store rows with their contacts in
 * one round trip. They define `contact_of (org_uuid, identity, contact_uuid)`: the contact of each
 * wanted URN, except one that another transaction created after this statement's snapshot (the
 * unique (org, identity) makes this statement skip its copy): the caller stores that URN's rows
 * in a later statement, which sees the other transaction's contact. Also `new_urns`, the URNs
 * created here, whose contacts are new.
 *
 * @example await sql`with wanted as (…), ${contactCtes(sql)}, stored as (…) select …`;
 */
export function contactCtes(db: Db) {
  return db`
    existing as (
      select u.org_uuid, u.identity, u.contact_uuid
      from contact_urns u join wanted w on u.org_uuid = w.org_uuid and u.identity = w.identity
    ),
    -- In (org, identity) order, so concurrent writers lock URNs in the same order.
    new_urns as (
      insert into contact_urns (org_uuid, identity, display, contact_uuid)
      select w.org_uuid, w.identity, w.display, w.new_contact
      from wanted w
      where not exists (select 1 from existing e where e.org_uuid = w.org_uuid and e.identity = w.identity)
      order by w.org_uuid, w.identity
      on conflict (org_uuid, identity) do nothing
      returning org_uuid, identity, contact_uuid
    ),
    new_contacts as (
      insert into contacts (uuid, org_uuid, name)
      select w.new_contact, w.org_uuid, w.name from wanted w join new_urns u on u.contact_uuid = w.new_contact
    ),
    contact_of as (
      select org_uuid, identity, contact_uuid from existing
      union all
      select org_uuid, identity, contact_uuid from new_urns
    )`;
}

/** The key `ensureContacts` answers under. */
export function contactKey(orgUuid: string, urn: string): string {
  return `${orgUuid}|${urnIdentity(urn)}`;
}

/**
 * Finds or creates the contact of each (org, URN) and answers their uuids by `contactKey`;
 * usually in one statement. A new contact takes the first name given for it. Safe against another
 * transaction creating the same URN at the same time: the unique (org, identity) decides who
 * wins, and a URN that lost that race (neither found nor inserted by the statement, since the
 * winner committed after it began) is read again once the winner has committed.
 *
 * @example const ids = await ensureContacts(tx, [{ orgUuid, urn: 'tel:+250788383383', name: 'Ann' }]);
 */
export async function ensureContacts(db: Db, refs: readonly ContactRef[]): Promise<Map<string, string>> {
  const wanted = new Map<string, ContactRef>();
  for (const ref of refs) if (!wanted.has(contactKey(ref.orgUuid, ref.urn))) wanted.set(contactKey(ref.orgUuid, ref.urn), ref);
  const found = new Map<string, string>();
  if (wanted.size === 0) return found;
  // In key order, so overlapping batches lock URNs in the same order and cannot deadlock.
  const list = [...wanted.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ref]) => ref);
  const orgs = list.map((r) => r.orgUuid);
  const identities = list.map((r) => urnIdentity(r.urn));
  const displays = list.map((r) => urnDisplay(r.urn));
  const names = list.map((r) => r.name ?? null);
  const uuids = list.map(() => newUuid());
  const rows = await db`
    with input as (
      select * from unnest(${orgs}::uuid[], ${identities}::text[], ${displays}::text[], ${names}::text[], ${uuids}::uuid[])
        as t(org_uuid, identity, display, name, contact_uuid)
    ),
    existing as (
      select u.org_uuid, u.identity, u.contact_uuid
      from contact_urns u join input i on u.org_uuid = i.org_uuid and u.identity = i.identity
    ),
    urns as (
      insert into contact_urns (org_uuid, identity, display, contact_uuid)
      select i.org_uuid, i.identity, i.display, i.contact_uuid from input i
      where not exists (select 1 from existing e where e.org_uuid = i.org_uuid and e.identity = i.identity)
      on conflict (org_uuid, identity) do nothing
      returning org_uuid, identity, contact_uuid
    ),
    created as (
      insert into contacts (uuid, org_uuid, name)
      select i.contact_uuid, i.org_uuid, i.name from input i join urns u on u.contact_uuid = i.contact_uuid
    )
    select org_uuid, identity, contact_uuid from existing
    union all
    select org_uuid, identity, contact_uuid from urns`;
  for (const row of rows) found.set(`${row.org_uuid}|${row.identity}`, row.contact_uuid as string);
  const lost = list.filter((r) => !found.has(contactKey(r.orgUuid, r.urn)));
  if (lost.length > 0) {
    const again = await db`
      select u.org_uuid, u.identity, u.contact_uuid
      from contact_urns u
      join unnest(${lost.map((r) => r.orgUuid)}::uuid[], ${lost.map((r) => urnIdentity(r.urn))}::text[]) as i(org_uuid, identity)
        on u.org_uuid = i.org_uuid and u.identity = i.identity`;
    for (const row of again) found.set(`${row.org_uuid}|${row.identity}`, row.contact_uuid as string);
  }
  return found;
}

export interface StopRequest {
  orgUuid: string;
  contactUuid: string;
  urn: Urn;
  reason: string;
  at: Date;
}

/**
 * Stops contacts not stopped yet and writes a `contact.stopped` event for each one that changed.
 *
 * @example await stopContacts(tx, [{ orgUuid, contactUuid, urn, reason: 'stop_contact', at: new Date() }]);
 */
export async function stopContacts(db: Db, requests: readonly StopRequest[]): Promise<void> {
  if (requests.length === 0) return;
  const changed = await db`
    update contacts c set stopped_on = r.at, stopped_reason = r.reason, modified_on = r.at
    from unnest(${requests.map((r) => r.contactUuid)}::uuid[], ${requests.map((r) => r.reason)}::text[], ${requests.map((r) => iso(r.at))}::timestamptz[])
      as r(uuid, reason, at)
    where c.uuid = r.uuid and c.stopped_on is null
    returning c.uuid`;
  const stopped = new Set(changed.map((row) => row.uuid as string));
  const events: OutboxEvent[] = [];
  for (const r of requests) {
    if (!stopped.delete(r.contactUuid)) continue;
    events.push({
      orgUuid: r.orgUuid,
      type: 'contact.stopped',
      data: { contact_uuid: r.contactUuid, urn: r.urn, reason: r.reason, stopped_on: r.at.toISOString() },
    });
  }
  await insertOutbox(db, events);
}

/** Unstops the contact of (org, URN) if it is stopped, with a `contact.unstopped` event. */
export async function unstopContact(db: Db, orgUuid: string, urn: Urn, at: Date): Promise<void> {
  const [row] = await db`
    update contacts c set stopped_on = null, stopped_reason = null, modified_on = ${at}
    from contact_urns u
    where u.org_uuid = ${orgUuid} and u.identity = ${urnIdentity(urn)} and c.uuid = u.contact_uuid and c.stopped_on is not null
    returning c.uuid`;
  if (!row) return;
  await insertOutbox(db, [{ orgUuid, type: 'contact.unstopped', data: { contact_uuid: row.uuid, urn, unstopped_on: at.toISOString() } }]);
}

/** Whether the contact of (org, URN) exists and is stopped. */
export async function isStopped(db: Db, orgUuid: string, urn: Urn): Promise<boolean> {
  const [row] = await db`
    select c.stopped_on is not null as stopped
    from contact_urns u join contacts c on c.uuid = u.contact_uuid
    where u.org_uuid = ${orgUuid} and u.identity = ${urnIdentity(urn)}`;
  return row?.stopped === true;
}
