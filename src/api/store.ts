import type { ChannelFileEntry } from '../../config/config.js';
import type { Channel } from '../channel.js';
import type { MsgStatus, Priority } from '../msg.js';
import type { Urn } from '../urn.js';

/** Who a bearer token speaks for. The admin token acts on the default org and may create orgs. */
export interface Caller {
  orgUuid: string;
  isAdmin: boolean;
}

export interface OrgRecord {
  uuid: string;
  name: string;
  webhookUrl: string | null;
  hasWebhookSecret: boolean;
  createdOn: Date;
}

export interface ChannelRecord {
  channel: Channel;
  createdOn: Date;
}

export interface ChannelPatch {
  name?: string;
  address?: string;
  country?: string | null;
  tps?: number;
  config?: Record<string, unknown>;
}

/** A message as the API shows it (CONTRACT §3). */
export interface MsgView {
  uuid: string;
  direction: 'in' | 'out';
  channel: string;
  urn: string;
  contact: { uuid: string; name: string | null };
  text: string;
  attachments: string[];
  quick_replies: string[];
  status: MsgStatus;
  external_id: string | null;
  priority: Priority;
  error_count: number;
  failed_reason: string | null;
  metadata: Record<string, unknown> | null;
  created_on: string;
  sent_on: string | null;
  modified_on: string;
  history?: Array<{ status: MsgStatus; at: string; reason?: string }>;
}

export interface MsgFilter {
  direction?: 'in' | 'out';
  channel?: string;
  status?: MsgStatus;
  urn?: Urn;
  /** Only messages after this uuid (the previous page's cursor). */
  after?: string;
  limit: number;
}

export interface ContactView {
  uuid: string;
  name: string | null;
  urns: string[];
  stopped: boolean;
  stopped_on: string | null;
  stopped_reason: string | null;
  created_on: string;
}

export interface ChannelLogView {
  uuid: string;
  type: string;
  msg_uuid?: string;
  is_error: boolean;
  elapsed_ms: number;
  created_on: string;
  http_logs: Array<{ method: string; url: string; status_code: number | null; request: string; response: string; elapsed_ms: number }>;
  errors: Array<{ code: string; message: string }>;
}

/** An upstream event, with how its webhook delivery went (CONTRACT §3 "Events"). */
export interface EventView {
  id: string;
  type: string;
  created_on: string;
  data: Record<string, unknown>;
  delivery: { attempts: number; last_error: string | null; delivered_on: string | null; failed_on: string | null };
}

/**
 * What the upstream API reads and manages beyond the Backend's write and send paths: orgs and
 * their tokens, channels, message and event queries. Implemented by the Postgres store; every
 * method is scoped to one org, so one org's token never sees another's data.
 */
export interface ApiStore {
  /** The org and role of a token, by the sha-256 hex of the token. */
  findToken(tokenHash: string): Promise<Caller | null>;
  createOrg(name: string, tokenHash: string): Promise<OrgRecord>;
  getOrg(orgUuid: string): Promise<OrgRecord | null>;
  updateOrg(orgUuid: string, patch: { webhookUrl?: string | null; webhookSecret?: string | null }): Promise<OrgRecord | null>;

  /** Answers null when the uuid is taken (by any org). */
  createChannel(orgUuid: string, entry: ChannelFileEntry): Promise<ChannelRecord | null>;
  listChannels(orgUuid: string): Promise<ChannelRecord[]>;
  getChannel(orgUuid: string, uuid: string): Promise<ChannelRecord | null>;
  updateChannel(orgUuid: string, uuid: string, patch: ChannelPatch): Promise<ChannelRecord | null>;
  deleteChannel(orgUuid: string, uuid: string): Promise<boolean>;
  channelLogs(orgUuid: string, channelUuid: string, page: { limit: number; before?: string }): Promise<ChannelLogView[]>;

  /** The message already stored under this idempotency key, with the body hash it was stored with. */
  findIdempotent(orgUuid: string, key: string): Promise<{ uuid: string; requestHash: string | null } | null>;
  getMessage(orgUuid: string, uuid: string): Promise<MsgView | null>;
  listMessages(orgUuid: string, filter: MsgFilter): Promise<MsgView[]>;
  /** Re-queues a failed or errored outgoing message; `not_resendable` for any other. */
  resendMessage(orgUuid: string, uuid: string): Promise<'resent' | 'not_found' | 'not_resendable'>;

  getContact(orgUuid: string, urn: Urn): Promise<ContactView | null>;
  listEvents(orgUuid: string, page: { after?: string; limit: number }): Promise<EventView[]>;
}
