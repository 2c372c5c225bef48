-- The proof-of-reserves key, kept where dbt's SQL cannot show it (CONTRACT section 7).
-- The close stores the HMAC pads derived from EOD_POR_SECRET (eod.por_key.store_por_key)
-- before dbt runs; user_balance_snapshots calls eod.por_nonces, a SECURITY DEFINER
-- function that reads them (R0200_mart_functions). The secret never appears in compiled
-- SQL, logs or artifacts, and only the table's owner can read the pads.

create table if not exists eod.por_key (
    key_id int primary key,
    inner_pad bytea not null check (length(inner_pad) = 64),
    outer_pad bytea not null check (length(outer_pad) = 64)
);
revoke all on eod.por_key from public;
