-- Platform schema `exchange` (CONTRACT section 4) and the close's own schemas.
-- Everything is created only when missing, so a platform database that already
-- has some of these tables (and the old three-value status enum) upgrades in place.

create schema if not exists exchange;
create schema if not exists eod;
create schema if not exists marts;

do $$
begin
    create type exchange.account_status as enum ('active', 'suspended', 'banned');
exception
    when duplicate_object then null;
end
$$;

create table if not exists exchange.currencies (
    currency text primary key,
    decimals int not null check (decimals between 0 and 18),
    custody_tolerance numeric not null default 0 check (custody_tolerance >= 0)
);

create table if not exists exchange.users (
    user_id bigint primary key,
    status exchange.account_status not null default 'active',
    created_at timestamptz not null default now()
);
alter table exchange.users add column if not exists created_at timestamptz not null default now();

create table if not exists exchange.accounts (
    user_id bigint not null references exchange.users (user_id),
    currency text not null references exchange.currencies (currency),
    created_at timestamptz not null default now(),
    primary key (user_id, currency)
);

create table if not exists exchange.ledger_entries (
    entry_id bigint generated always as identity primary key,
    journal_id uuid not null,
    user_id bigint null,
    account text not null,
    currency text not null references exchange.currencies (currency),
    amount numeric(38, 18) not null,
    reference_type text not null,
    reference_id text not null,
    reason text null,
    business_date date not null,
    effective_at timestamptz not null,
    created_by text not null,
    constraint ledger_entries_account_shape check (
        (account = 'user' and user_id is not null)
        or (account like 'house:_%' and user_id is null)
    )
);
create index if not exists ledger_entries_business_date_idx
    on exchange.ledger_entries (business_date);
create index if not exists ledger_entries_user_idx
    on exchange.ledger_entries (user_id, currency) where user_id is not null;
-- Only the indexes the close and the account checks read: the day's movements and a
-- user's balances. Every extra index costs the platform on each of its inserts.

create table if not exists exchange.trades (
    trade_id bigint primary key,
    executed_at timestamptz not null,
    base text not null references exchange.currencies (currency),
    quote text not null references exchange.currencies (currency),
    price numeric(38, 18) not null check (price > 0),
    qty numeric(38, 18) not null check (qty > 0),
    maker_user_id bigint not null,
    taker_user_id bigint not null,
    taker_side text not null check (taker_side in ('buy', 'sell')),
    maker_fee numeric(38, 18) not null default 0 check (maker_fee >= 0),
    taker_fee numeric(38, 18) not null default 0 check (taker_fee >= 0),
    fee_currency text not null references exchange.currencies (currency),
    check (base <> quote)
);
create index if not exists trades_executed_at_idx on exchange.trades (executed_at);

create table if not exists exchange.mark_prices (
    currency text not null references exchange.currencies (currency),
    price numeric(38, 18) not null check (price > 0),
    as_of timestamptz not null,
    primary key (currency, as_of)
);

create table if not exists exchange.staking_positions (
    position_id bigint primary key,
    user_id bigint not null,
    amount numeric(38, 18) not null check (amount > 0),
    staked_at timestamptz not null,
    unstaked_at timestamptz null,
    check (unstaked_at is null or unstaked_at >= staked_at)
);
create index if not exists staking_positions_open_idx
    on exchange.staking_positions (staked_at, unstaked_at);

create table if not exists exchange.revenue_router (
    business_date date primary key,
    staking_share numeric not null check (staking_share >= 0 and staking_share <= 1),
    status text not null check (status in ('open', 'closed'))
);

create table if not exists exchange.custody_wallets (
    currency text not null references exchange.currencies (currency),
    coin text not null,
    wallet_id text not null,
    primary key (currency, wallet_id)
);
