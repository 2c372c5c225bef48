-- Captured inputs of the close (CONTRACT section 5) and its operational tables
-- (section 8). Captures are the dbt sources: once D is captured, D's marts can be
-- rebuilt from them alone.

create table if not exists eod.me_balances (
    business_date date not null,
    user_id bigint not null,
    currency text not null,
    total numeric(38, 18) not null,
    locked numeric(38, 18) not null,
    available numeric(38, 18) not null,
    as_of timestamptz not null,
    sequence bigint not null,
    primary key (business_date, user_id, currency)
);

create table if not exists eod.custody_balances (
    business_date date not null,
    currency text not null,
    coin text not null,
    wallet_id text not null,
    balance_units numeric(78, 0) not null,
    captured_at timestamptz not null default now(),
    primary key (business_date, currency, wallet_id)
);

create table if not exists eod.onchain_staking (
    business_date date primary key,
    total_staked_units numeric(78, 0) not null,
    captured_at timestamptz not null default now()
);

create table if not exists eod.eod_runs (
    business_date date not null,
    step_name text not null,
    status text not null check (status in ('running', 'succeeded', 'failed')),
    attempts int not null default 0,
    started_at timestamptz null,
    finished_at timestamptz null,
    fencing_token bigint null,
    detail jsonb not null default '{}'::jsonb,
    primary key (business_date, step_name)
);

-- Transactional outbox: a row is written in the same transaction as the change it
-- announces; the relay publishes it to JetStream with Nats-Msg-Id = event_id and
-- marks it published. JetStream's duplicate window makes a second publish a no-op.
create table if not exists eod.outbox (
    event_id uuid primary key,
    subject text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    published_at timestamptz null
);
create index if not exists outbox_pending_idx on eod.outbox (created_at) where published_at is null;
