import type { ChannelFileEntry } from '../../config/config.js';
import { ChannelConfig, type Channel } from '../../src/channel.js';
import type { Db } from './db.js';

/**
 * A channel by uuid, null when there is none or it was deleted.
 *
 * @example const channel = await loadChannel(sql, '0191…');
 */
export async function loadChannel(db: Db, uuid: string): Promise<Channel | null> {
  const [row] = await db`
    select uuid, org_uuid, type, name, address, country, tps, config from channels
    where uuid = ${uuid} and deleted_on is null`;
  return row ? channelFromRow(row) : null;
}

/**
 * Creates or updates the channels of `HERALD_CHANNELS_FILE` (in the given org), undeleting any
 * that were deleted; answers their uuids. One statement.
 *
 * @example await upsertChannels(sql, config.channels, DEFAULT_ORG_UUID)
 */
export async function upsertChannels(db: Db, entries: readonly ChannelFileEntry[], orgUuid: string): Promise<string[]> {
  if (entries.length === 0) return [];
  const rows = await db`
    insert into channels (uuid, org_uuid, type, name, address, country, tps, config)
    select e.uuid, ${orgUuid}, e.type, e.name, e.address, e.country, e.tps, e.config::jsonb
    from unnest(
      ${entries.map((e) => e.uuid.toLowerCase())}::uuid[], ${entries.map((e) => e.type)}::text[], ${entries.map((e) => e.name ?? e.type)}::text[],
      ${entries.map((e) => e.address ?? '')}::text[], ${entries.map((e) => e.country?.toUpperCase() ?? null)}::text[],
      ${entries.map((e) => e.tps ?? 0)}::integer[], ${entries.map((e) => JSON.stringify(e.config))}::text[]
    ) as e(uuid, type, name, address, country, tps, config)
    on conflict (uuid) do update set
      type = excluded.type, name = excluded.name, address = excluded.address, country = excluded.country,
      tps = excluded.tps, config = excluded.config, modified_on = now(), deleted_on = null
    returning uuid`;
  return rows.map((r) => r.uuid as string);
}

export function channelFromRow(row: Record<string, any>): Channel {
  return {
    uuid: row.uuid,
    orgUuid: row.org_uuid,
    type: row.type,
    name: row.name,
    address: row.address,
    country: row.country,
    tps: row.tps,
    config: new ChannelConfig(row.config ?? {}),
  };
}
