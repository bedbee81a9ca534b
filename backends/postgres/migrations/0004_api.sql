-- The upstream API: an outgoing message queued with an `Idempotency-Key` keeps a hash of the
-- request body it was queued with, so a retry with the same key and body answers the same
-- message and the same key with another body is refused (409).
alter table msgs add column idempotency_hash text;
