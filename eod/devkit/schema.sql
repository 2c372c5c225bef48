-- The dev kit's own schema (eod.devkit.schema.ensure_schema applies it; the product's
-- migrations create none of it). Every statement is idempotent.
--
-- Schema `sim`: what the simulated external systems serve (CONTRACT section 5).
-- `eod generate` fills it consistently with the platform tables it generates; the
-- simulators only read it, except for the engine's cancelled orders, which it keeps
-- here so that they survive a restart. Not used by a real close.

create schema if not exists sim;

-- One generation of the synthetic exchange: the simulators read the cutover and the
-- last generated day from here rather than from the environment they run in.
create table if not exists sim.generation (
    generation_id int primary key check (generation_id = 1),
    seed bigint not null,
    start_date date not null,
    last_date date not null,
    users bigint not null,
    trades_per_day bigint not null,
    cutover text not null,
    generated_at timestamptz not null default now()
);

-- Matching-engine registry at the end of each stored business date.
create table if not exists sim.me_snapshots (
    business_date date primary key,
    as_of timestamptz not null,
    sequence bigint not null
);

create table if not exists sim.me_registry (
    business_date date not null,
    user_id bigint not null,
    currency text not null,
    total numeric(38, 18) not null,
    locked numeric(38, 18) not null,
    available numeric(38, 18) not null,
    primary key (business_date, user_id, currency)
);

-- Users whose open orders the engine cancelled on an account event: from then on
-- their snapshots show nothing locked.
create table if not exists sim.me_cancelled_orders (
    user_id bigint primary key,
    subject text not null,
    cancelled_at timestamptz not null default now()
);

create table if not exists sim.custody_wallet_balances (
    business_date date not null,
    currency text not null,
    coin text not null,
    wallet_id text not null,
    wallet_no int not null,
    balance_units numeric(78, 0) not null,
    primary key (business_date, currency, wallet_id)
);

create table if not exists sim.onchain_staked (
    business_date date primary key,
    total_units numeric(78, 0) not null
);

-- The simulated engine and custody add what the close credited users after the
-- registry was generated (staking payouts, admin adjustments) on every request. Those
-- are few rows among millions of trade legs: a partial index finds them without
-- scanning the ledger, and costs the bulk loads nothing.
create index if not exists ledger_entries_engine_credits_idx
    on exchange.ledger_entries (currency, effective_at)
    where account = 'user' and reference_type in ('staking_payout', 'admin_adjustment');
