-- Foreign keys are dropped from the tables every callback inserts into (messages, events, their
-- contacts and outbox rows). Measured on a burst of callbacks, their checks were half of the
-- server's time per batch: each checked row runs a lookup of its own, and a key to a row every
-- write shares (the org, the channel) locks that one row FOR KEY SHARE from many transactions at
-- once, which Postgres records as a multixact per change. What they guarded holds by
-- construction: orgs and contacts are never deleted, channels are retired with `deleted_on`
-- rather than removed, every write resolves its channel (and through it the org) before it
-- inserts, and a message's contact is found or created in the same statement as the message.
-- Keys from status history and external ids to their message stay (they cascade on delete).
alter table msgs
  drop constraint msgs_org_uuid_fkey,
  drop constraint msgs_channel_uuid_fkey,
  drop constraint msgs_contact_uuid_fkey;
alter table msg_external_ids drop constraint msg_external_ids_channel_uuid_fkey;
alter table channel_events
  drop constraint channel_events_org_uuid_fkey,
  drop constraint channel_events_channel_uuid_fkey,
  drop constraint channel_events_contact_uuid_fkey;
alter table contacts drop constraint contacts_org_uuid_fkey;
alter table contact_urns
  drop constraint contact_urns_org_uuid_fkey,
  drop constraint contact_urns_contact_uuid_fkey;
alter table outbox drop constraint outbox_org_uuid_fkey;
