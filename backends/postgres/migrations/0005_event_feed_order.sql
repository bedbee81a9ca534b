-- The events feed and webhooks number events in the order they became visible, not in the order
-- their rows were inserted. An outbox id is taken when the row is inserted, but its transaction
-- may commit after a later one: a reader paging by id (`after=<last id>`) would already be past
-- it and never see it. The FeedSequencer (feed-sequencer.ts) gives committed events a `seq`, in
-- passes that take the one row of `feed_position` first, so passes run one at a time and every
-- pass's numbers follow the previous pass's. An event is in the feed, and sent as a webhook, once
-- it has its `seq`; its public id is that number.
alter table outbox add column seq bigint;
create unique index outbox_seq on outbox (seq) where seq is not null;
create index outbox_feed on outbox (org_uuid, seq) where seq is not null;
create index outbox_unsequenced on outbox (id) where seq is null;

create table feed_position (
  only_row boolean primary key default true check (only_row),
  last_seq bigint not null
);
-- Events stored before this migration are numbered as they were.
update outbox set seq = id;
insert into feed_position (last_seq) select coalesce(max(id), 0) from outbox;
