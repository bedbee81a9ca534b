-- Herald's tables. Postgres is the source of truth; every table an upstream app reads through
-- the API (CONTRACT §3) is keyed by a uuid v7 generated in the application, so ordering by uuid
-- is ordering by creation time and cursor paging is `where uuid > $cursor order by uuid`.
-- Runs on Postgres 15 and PGlite: no extensions, nothing newer than 15.

create table orgs (
  uuid           uuid primary key,
  name           text not null,
  webhook_url    text,
  webhook_secret text,
  created_on     timestamptz not null default now(),
  modified_on    timestamptz not null default now()
);

insert into orgs (uuid, name) values ('00000000-0000-4000-8000-000000000000', 'Default');

-- Only a hash of each token is kept (sha-256 hex of the bearer token).
create table api_tokens (
  uuid        uuid primary key,
  org_uuid    uuid not null references orgs,
  token_hash  text not null unique,
  is_admin    boolean not null default false,
  created_on  timestamptz not null default now(),
  revoked_on  timestamptz
);
create index api_tokens_org on api_tokens (org_uuid);

create table channels (
  uuid        uuid primary key,
  org_uuid    uuid not null references orgs,
  type        text not null,
  name        text not null,
  address     text not null default '',
  country     text,
  tps         integer not null default 0 check (tps >= 0),
  config      jsonb not null default '{}',
  created_on  timestamptz not null default now(),
  modified_on timestamptz not null default now(),
  deleted_on  timestamptz
);
create index channels_org on channels (org_uuid, uuid) where deleted_on is null;

create table contacts (
  uuid           uuid primary key,
  org_uuid       uuid not null references orgs,
  name           text,
  stopped_on     timestamptz,
  stopped_reason text,
  created_on     timestamptz not null default now(),
  modified_on    timestamptz not null default now()
);
create index contacts_org on contacts (org_uuid, uuid);

-- A contact's URNs. `identity` is the URN without its `#display` part: `telegram:123#bob` and
-- `telegram:123#robert` are the same person. The contact is inserted in the same statement as
-- its first URN, hence the deferred foreign key.
create table contact_urns (
  id           bigint generated always as identity primary key,
  org_uuid     uuid not null references orgs,
  identity     text not null,
  display      text,
  contact_uuid uuid not null references contacts deferrable initially deferred,
  created_on   timestamptz not null default now(),
  unique (org_uuid, identity)
);
create index contact_urns_contact on contact_urns (contact_uuid);

-- Both directions. Incoming messages are stored as `pending` (received, not yet acted on by the
-- upstream app); outgoing ones start `queued`. For an outgoing message `next_attempt_at` is when
-- it is due (its send_at, or its retry time), `lease_until` is a Sender's claim and `pushed_on`
-- is when it was last pushed to the queue (see reconciler.ts).
create table msgs (
  uuid            uuid primary key,
  org_uuid        uuid not null references orgs,
  channel_uuid    uuid not null references channels,
  contact_uuid    uuid not null references contacts,
  direction       text not null check (direction in ('in', 'out')),
  urn             text not null,
  text            text not null default '',
  attachments     text[] not null default '{}',
  quick_replies   text[] not null default '{}',
  status          text not null check (status in ('pending', 'queued', 'wired', 'sent', 'delivered', 'read', 'errored', 'failed')),
  external_id     text,
  priority        text not null default 'high' check (priority in ('high', 'bulk')),
  cost            integer not null default 1 check (cost >= 1),
  error_count     integer not null default 0,
  failed_reason   text,
  metadata        jsonb,
  send_at         timestamptz,
  next_attempt_at timestamptz,
  lease_until     timestamptz,
  pushed_on       timestamptz,
  idempotency_key text,
  created_on      timestamptz not null,
  sent_on         timestamptz,
  modified_on     timestamptz not null
);
-- API listings: oldest first after a uuid cursor, per org and per filter.
create index msgs_org on msgs (org_uuid, uuid);
create index msgs_org_direction on msgs (org_uuid, direction, uuid);
create index msgs_org_status on msgs (org_uuid, status, uuid);
create index msgs_org_urn on msgs (org_uuid, urn, uuid);
create index msgs_channel on msgs (channel_uuid, uuid);
create index msgs_contact on msgs (contact_uuid, uuid);
-- Incoming deduplication: by provider id (48 h), or by text when there is none (seconds).
create index msgs_in_external_id on msgs (channel_uuid, external_id, created_on) where direction = 'in' and external_id is not null;
create index msgs_in_same_text on msgs (channel_uuid, urn, created_on) where direction = 'in' and external_id is null;
-- The reconciler's scan: outgoing messages still waiting to be sent.
create index msgs_out_waiting on msgs (next_attempt_at) where direction = 'out' and status in ('queued', 'errored');
create index msgs_out_leased on msgs (lease_until) where direction = 'out' and status in ('queued', 'errored') and lease_until is not null;
create unique index msgs_idempotency on msgs (org_uuid, idempotency_key) where idempotency_key is not null;

create table msg_status_history (
  id       bigint generated always as identity primary key,
  msg_uuid uuid not null references msgs on delete cascade,
  status   text not null,
  at       timestamptz not null,
  reason   text
);
create index msg_status_history_msg on msg_status_history (msg_uuid, id);

-- Provider ids of sent messages; a multi-part send has one per part. A provider that reuses an
-- id later points it at the newer message.
create table msg_external_ids (
  channel_uuid uuid not null references channels,
  external_id  text not null,
  msg_uuid     uuid not null references msgs on delete cascade,
  created_on   timestamptz not null default now(),
  primary key (channel_uuid, external_id)
);
create index msg_external_ids_msg on msg_external_ids (msg_uuid);

create table channel_events (
  uuid         uuid primary key,
  org_uuid     uuid not null references orgs,
  channel_uuid uuid not null references channels,
  contact_uuid uuid not null references contacts,
  type         text not null check (type in ('new_conversation', 'stop_contact', 'referral', 'welcome_message')),
  urn          text not null,
  extra        jsonb,
  created_on   timestamptz not null
);
create index channel_events_org on channel_events (org_uuid, uuid);
create index channel_events_channel on channel_events (channel_uuid, uuid);

-- No foreign key to msgs: a log may be written (or replayed from the spool) before its message.
create table channel_logs (
  uuid         uuid primary key,
  channel_uuid uuid not null,
  type         text not null,
  msg_uuid     uuid,
  http_logs    jsonb not null default '[]',
  errors       jsonb not null default '[]',
  is_error     boolean not null default false,
  elapsed_ms   integer not null default 0,
  created_on   timestamptz not null
);
create index channel_logs_channel on channel_logs (channel_uuid, uuid);
create index channel_logs_msg on channel_logs (msg_uuid) where msg_uuid is not null;
create index channel_logs_created on channel_logs (created_on);

-- Upstream events, written in the same transaction as the change they describe. `id` is the
-- events feed cursor; the delivery columns belong to the webhook dispatcher.
create table outbox (
  id              bigint generated always as identity primary key,
  org_uuid        uuid not null references orgs,
  type            text not null check (type in ('message.received', 'message.status', 'channel.event', 'contact.stopped', 'contact.unstopped')),
  data            jsonb not null,
  created_on      timestamptz not null default now(),
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error      text,
  delivered_on    timestamptz
);
create index outbox_org on outbox (org_uuid, id);
create index outbox_undelivered on outbox (next_attempt_at) where delivered_on is null;
