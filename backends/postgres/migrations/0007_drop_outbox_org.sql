-- No query reads outbox_org (org, id) since the feed pages by seq (outbox_feed) and webhook
-- delivery finds due events through outbox_to_deliver; every event still paid for it twice, when
-- inserted and again when the sequencer numbers it (a new row version, so new index entries).
drop index outbox_org;
