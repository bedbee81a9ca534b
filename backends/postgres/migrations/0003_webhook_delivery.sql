-- Webhook delivery (see webhook-dispatcher.ts). An event the dispatcher gave up on (not
-- acknowledged within a day of `created_on`) gets `failed_on`: it is never tried again, and the
-- feed can tell it from one still being retried.
alter table outbox add column failed_on timestamptz;

-- The dispatcher claims due events per org that has a webhook URL, earliest due first. Keyed by
-- org, so the events of orgs without a URL (kept for the pull feed, never delivered) are never
-- scanned; `next_attempt_at` second, so events in back-off are skipped by the index, not read.
-- It replaces `outbox_undelivered`, which led every claim through those orgs' events.
drop index outbox_undelivered;
create index outbox_to_deliver on outbox (org_uuid, next_attempt_at, id) where delivered_on is null and failed_on is null;
