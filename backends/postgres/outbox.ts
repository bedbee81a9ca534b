import type { Db } from './db.js';

export type OutboxType = 'message.received' | 'message.status' | 'channel.event' | 'contact.stopped' | 'contact.unstopped';

/** An upstream event, written in the same transaction as the change it describes. */
export interface OutboxEvent {
  orgUuid: string;
  type: OutboxType;
  data: Record<string, unknown>;
}

/**
 * Appends events to the outbox in one statement, in the given order (their feed ids ascend).
 *
 * @example await insertOutbox(tx, [{ orgUuid, type: 'contact.stopped', data: { urn } }]);
 */
export async function insertOutbox(db: Db, events: readonly OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db`
    insert into outbox (org_uuid, type, data)
    select o.org_uuid, o.type, o.data::jsonb
    from unnest(${events.map((e) => e.orgUuid)}::uuid[], ${events.map((e) => e.type)}::text[], ${events.map((e) => JSON.stringify(e.data))}::text[])
      with ordinality as o(org_uuid, type, data, n)
    order by o.n`;
}
