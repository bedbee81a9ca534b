-- A Sender's claim (lease_until, modified_on) is a heap-only update: no index entry written.
-- With msgs_out_leased in place every claim wrote a new entry into each of the table's twelve
-- indexes, since lease_until was indexed; measured on batches of ten claims, about 60 µs a
-- message of the server's time went to that. The reconciler finds lapsed claims through
-- msgs_out_waiting instead (its predicate covers every claimable message), once a minute: a scan
-- of every waiting message, as its other query already is. Pages written from now on keep 20 %
-- free, so the new row version fits beside the old one (older pages are full until rewritten).
drop index msgs_out_leased;
alter table msgs set (fillfactor = 80);
