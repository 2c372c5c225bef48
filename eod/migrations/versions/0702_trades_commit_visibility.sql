-- What each close could see of the trades, as of the ledger (0700, 0701): every trade
-- carries the id of the transaction that wrote it (tx_id, the column's default; a
-- writer never sets it). D's close counts the trades executed in D's window that its
-- snapshot sees, and the late ones: executed before D, seen by D's snapshot and not by
-- D-1's (R0700_ledger_entries_counted.sql). Trades already there get this migration's
-- transaction id (a stable default, stored once without rewriting the table).

alter table exchange.trades
    add column if not exists tx_id xid8 not null default pg_current_xact_id();

-- the late trades of D: those written since the oldest transaction D-1's snapshot did
-- not see, about a day of trades, never their history
create index if not exists trades_tx_id_idx on exchange.trades (tx_id);
