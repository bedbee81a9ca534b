-- Feed numbers are unique per org, where the feed is read and where a delivery is recorded
-- (org, seq), so outbox_feed becomes the unique index and outbox_seq goes: numbering an event
-- wrote both.
create unique index outbox_feed_unique on outbox (org_uuid, seq) where seq is not null;
drop index outbox_feed;
alter index outbox_feed_unique rename to outbox_feed;
drop index outbox_seq;
