-- Staged capture rows carry the time they were staged, so that rows a killed capture
-- left behind (its process never reached its cleanup) can be recognised and dropped
-- by a later capture instead of accumulating in the staging tables.

alter table eod.me_balances_incoming
    add column if not exists staged_at timestamptz not null default now();
alter table eod.custody_balances_incoming
    add column if not exists staged_at timestamptz not null default now();
