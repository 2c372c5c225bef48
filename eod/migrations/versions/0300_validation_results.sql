-- Validation of captured inputs (CONTRACT section 11): every Great Expectations run
-- is kept, passed or failed, so on-call can see what a close saw. The staging tables
-- hold a capture between the stream and its validation; they are UNLOGGED because a
-- crash simply means capturing again, and rows are keyed by a capture id so that two
-- captures never see each other's rows.

create table if not exists eod.validation_results (
    validation_id bigint generated always as identity primary key,
    business_date date not null,
    suite text not null,
    success boolean not null,
    statistics jsonb not null,
    result jsonb not null,
    validated_at timestamptz not null default now()
);
create index if not exists validation_results_date_idx
    on eod.validation_results (business_date, suite, validated_at);

create unlogged table if not exists eod.me_balances_incoming (
    capture_id uuid not null,
    line_no bigint not null,
    user_id bigint not null,
    currency text not null,
    total numeric not null,
    locked numeric not null,
    available numeric not null
);
create index if not exists me_balances_incoming_capture_idx
    on eod.me_balances_incoming (capture_id);

create unlogged table if not exists eod.custody_balances_incoming (
    capture_id uuid not null,
    currency text not null,
    coin text not null,
    wallet_id text not null,
    balance_units numeric not null
);
