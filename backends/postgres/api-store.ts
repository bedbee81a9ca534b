import { newUuid } from '../../src/uuid.js';
import type { ChannelFileEntry } from '../../config/config.js';
import type {
  ApiStore,
  Caller,
  ChannelLogView,
  ChannelPatch,
  ChannelRecord,
  ContactView,
  EventView,
  MsgFilter,
  MsgView,
  OrgRecord,
} from '../../src/api/store.js';
import type { Urn } from '../../src/urn.js';
import { channelFromRow } from './channels.js';
import { urnIdentity } from './contacts.js';
import type { Db } from './db.js';

/**
 * The upstream API's queries on Postgres (see src/api/store.ts). Every query names its org, so
 * a token of one org cannot read or change another's rows even by guessing uuids. Resending
 * needs the queue and lives on the backend; `resend` is that method.
 */
export class PostgresApiStore implements ApiStore {
  constructor(
    private readonly sql: Db,
    private readonly resend: (orgUuid: string, uuid: string) => Promise<'resent' | 'not_found' | 'not_resendable'>,
    private readonly channelChanged: (uuid: string) => void = () => {},
  ) {}

  async findToken(tokenHash: string): Promise<Caller | null> {
    const [row] = await this.sql`select org_uuid, is_admin from api_tokens where token_hash = ${tokenHash} and revoked_on is null`;
    return row ? { orgUuid: row.org_uuid, isAdmin: row.is_admin } : null;
  }

  async createOrg(name: string, tokenHash: string): Promise<OrgRecord> {
    const uuid = newUuid();
    const [row] = await this.sql`
      with org as (insert into orgs (uuid, name) values (${uuid}, ${name}) returning *),
      token as (insert into api_tokens (uuid, org_uuid, token_hash) values (${newUuid()}, ${uuid}, ${tokenHash}))
      select * from org`;
    return orgFromRow(row!);
  }

  async getOrg(orgUuid: string): Promise<OrgRecord | null> {
    const [row] = await this.sql`select * from orgs where uuid = ${orgUuid}`;
    return row ? orgFromRow(row) : null;
  }

  async updateOrg(orgUuid: string, patch: { webhookUrl?: string | null; webhookSecret?: string | null }): Promise<OrgRecord | null> {
    const [row] = await this.sql`
      update orgs set
        webhook_url = case when ${patch.webhookUrl !== undefined} then ${patch.webhookUrl ?? null} else webhook_url end,
        webhook_secret = case when ${patch.webhookSecret !== undefined} then ${patch.webhookSecret ?? null} else webhook_secret end,
        modified_on = now()
      where uuid = ${orgUuid}
      returning *`;
    return row ? orgFromRow(row) : null;
  }

  async createChannel(orgUuid: string, entry: ChannelFileEntry): Promise<ChannelRecord | null> {
    const [row] = await this.sql`
      insert into channels (uuid, org_uuid, type, name, address, country, tps, config)
      values (${entry.uuid}, ${orgUuid}, ${entry.type}, ${entry.name ?? entry.type}, ${entry.address ?? ''},
              ${entry.country ?? null}, ${entry.tps ?? 0}, ${JSON.stringify(entry.config)}::text::jsonb)
      on conflict (uuid) do nothing
      returning *`;
    return row ? channelRecord(row) : null;
  }

  async listChannels(orgUuid: string): Promise<ChannelRecord[]> {
    const rows = await this.sql`select * from channels where org_uuid = ${orgUuid} and deleted_on is null order by uuid`;
    return rows.map(channelRecord);
  }

  async getChannel(orgUuid: string, uuid: string): Promise<ChannelRecord | null> {
    const [row] = await this.sql`select * from channels where uuid = ${uuid} and org_uuid = ${orgUuid} and deleted_on is null`;
    return row ? channelRecord(row) : null;
  }

  async updateChannel(orgUuid: string, uuid: string, patch: ChannelPatch): Promise<ChannelRecord | null> {
    const [row] = await this.sql`
      update channels set
        name = coalesce(${patch.name ?? null}, name),
        address = coalesce(${patch.address ?? null}, address),
        country = case when ${patch.country !== undefined} then ${patch.country ?? null} else country end,
        tps = coalesce(${patch.tps ?? null}::integer, tps),
        config = case when ${patch.config !== undefined} then ${JSON.stringify(patch.config ?? {})}::text::jsonb else config end,
        modified_on = now()
      where uuid = ${uuid} and org_uuid = ${orgUuid} and deleted_on is null
      returning *`;
    if (row) this.channelChanged(uuid);
    return row ? channelRecord(row) : null;
  }

  async deleteChannel(orgUuid: string, uuid: string): Promise<boolean> {
    const deleted = await this.sql`
      update channels set deleted_on = now(), modified_on = now()
      where uuid = ${uuid} and org_uuid = ${orgUuid} and deleted_on is null`;
    if (deleted.count > 0) this.channelChanged(uuid);
    return deleted.count > 0;
  }

  async channelLogs(orgUuid: string, channelUuid: string, page: { limit: number; before?: string }): Promise<ChannelLogView[]> {
    const rows = await this.sql`
      select l.* from channel_logs l join channels c on c.uuid = l.channel_uuid
      where l.channel_uuid = ${channelUuid} and c.org_uuid = ${orgUuid}
        and (${page.before ?? null}::uuid is null or l.uuid < ${page.before ?? null}::uuid)
      order by l.uuid desc
      limit ${page.limit}`;
    return rows.map((r) => ({
      uuid: r.uuid,
      type: r.type,
      ...(r.msg_uuid ? { msg_uuid: r.msg_uuid } : {}),
      is_error: r.is_error,
      elapsed_ms: r.elapsed_ms,
      created_on: r.created_on.toISOString(),
      http_logs: (r.http_logs as Array<Record<string, unknown>>).map((h) => ({
        method: h.method as string,
        url: h.url as string,
        status_code: (h.status_code as number | null) ?? null,
        request: h.request as string,
        response: h.response as string,
        elapsed_ms: h.elapsed_ms as number,
      })),
      errors: r.errors,
    }));
  }

  async findIdempotent(orgUuid: string, key: string): Promise<{ uuid: string; requestHash: string | null } | null> {
    const [row] = await this.sql`select uuid, idempotency_hash from msgs where org_uuid = ${orgUuid} and idempotency_key = ${key}`;
    return row ? { uuid: row.uuid, requestHash: row.idempotency_hash } : null;
  }

  async getMessage(orgUuid: string, uuid: string): Promise<MsgView | null> {
    const [row] = await this.sql`
      select m.*, c.name as contact_name from msgs m join contacts c on c.uuid = m.contact_uuid
      where m.uuid = ${uuid} and m.org_uuid = ${orgUuid}`;
    if (!row) return null;
    const history = await this.sql`select status, at, reason from msg_status_history where msg_uuid = ${uuid} order by id`;
    return {
      ...msgView(row),
      history: history.map((h) => ({ status: h.status, at: h.at.toISOString(), ...(h.reason ? { reason: h.reason } : {}) })),
    };
  }

  async listMessages(orgUuid: string, filter: MsgFilter): Promise<MsgView[]> {
    const sql = this.sql;
    const rows = await sql`
      select m.*, c.name as contact_name from msgs m join contacts c on c.uuid = m.contact_uuid
      where m.org_uuid = ${orgUuid}
        ${filter.direction ? sql`and m.direction = ${filter.direction}` : sql``}
        ${filter.channel ? sql`and m.channel_uuid = ${filter.channel}` : sql``}
        ${filter.status ? sql`and m.status = ${filter.status}` : sql``}
        ${filter.urn ? sql`and m.urn = ${filter.urn}` : sql``}
        ${filter.after ? sql`and m.uuid > ${filter.after}` : sql``}
      order by m.uuid
      limit ${filter.limit}`;
    return rows.map(msgView);
  }

  resendMessage(orgUuid: string, uuid: string): Promise<'resent' | 'not_found' | 'not_resendable'> {
    return this.resend(orgUuid, uuid);
  }

  async getContact(orgUuid: string, urn: Urn): Promise<ContactView | null> {
    const [row] = await this.sql`
      select c.*, array(select u2.identity || coalesce('#' || u2.display, '') from contact_urns u2 where u2.contact_uuid = c.uuid order by u2.id) as urns
      from contact_urns u join contacts c on c.uuid = u.contact_uuid
      where u.org_uuid = ${orgUuid} and u.identity = ${urnIdentity(urn)}`;
    if (!row) return null;
    return {
      uuid: row.uuid,
      name: row.name,
      urns: row.urns,
      stopped: row.stopped_on !== null,
      stopped_on: row.stopped_on?.toISOString() ?? null,
      stopped_reason: row.stopped_reason,
      created_on: row.created_on.toISOString(),
    };
  }

  async listEvents(orgUuid: string, page: { after?: string; limit: number }): Promise<EventView[]> {
    const rows = await this.sql`
      select seq, type, created_on, data, attempts, last_error, delivered_on, failed_on from outbox
      where org_uuid = ${orgUuid} and seq > ${page.after ?? '0'}::bigint
      order by seq
      limit ${page.limit}`;
    return rows.map((r) => ({
      id: String(r.seq),
      type: r.type,
      created_on: r.created_on.toISOString(),
      data: r.data,
      delivery: {
        attempts: r.attempts,
        last_error: r.last_error,
        delivered_on: r.delivered_on?.toISOString() ?? null,
        failed_on: r.failed_on?.toISOString() ?? null,
      },
    }));
  }
}

function orgFromRow(row: Record<string, any>): OrgRecord {
  return { uuid: row.uuid, name: row.name, webhookUrl: row.webhook_url, hasWebhookSecret: !!row.webhook_secret, createdOn: row.created_on };
}

function channelRecord(row: Record<string, any>): ChannelRecord {
  return { channel: channelFromRow(row), createdOn: row.created_on };
}

function msgView(row: Record<string, any>): MsgView {
  return {
    uuid: row.uuid,
    direction: row.direction,
    channel: row.channel_uuid,
    urn: row.urn,
    contact: { uuid: row.contact_uuid, name: row.contact_name ?? null },
    text: row.text,
    attachments: row.attachments,
    quick_replies: row.quick_replies,
    status: row.status,
    external_id: row.external_id,
    priority: row.priority,
    error_count: row.error_count,
    failed_reason: row.failed_reason,
    metadata: row.metadata,
    created_on: row.created_on.toISOString(),
    sent_on: row.sent_on?.toISOString() ?? null,
    modified_on: row.modified_on.toISOString(),
  };
}
