-- The registry's rules are evaluated in one pass over a staged capture, and the rows
-- that break them are kept here, one row per (rule, offending row), for Great
-- Expectations to report per rule. Evaluating each rule by a query of its own meant
-- a dozen passes over millions of staged rows; the breaking rows are few (none on a
-- good day). UNLOGGED like the staging tables: it only lives for one validation.
create unlogged table if not exists eod.me_balances_incoming_faults (
    capture_id uuid not null,
    check_name text not null,
    line_no bigint null,
    user_id bigint not null,
    currency text not null,
    decimals integer null,
    total text null,
    locked text null,
    available text null,
    row_count bigint null,
    first_line bigint null,
    staged_at timestamptz not null default now()
);
create index if not exists me_balances_incoming_faults_capture_idx
    on eod.me_balances_incoming_faults (capture_id, check_name);

-- A capture's staged rows are read whole (validation, landing), by sequential scans:
-- the staging table holds one capture at a time but for a crashed one's leftovers, so
-- an index on the capture id only slowed the COPY of millions of rows.
drop index if exists eod.me_balances_incoming_capture_idx;
