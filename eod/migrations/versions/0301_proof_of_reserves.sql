-- Published proof-of-reserves roots (CONTRACT sections 6 and 7). Written by the
-- close from Python (eod.por), one row per (business date, currency), replaced as a
-- whole for a date; dbt does not own this table.

create table if not exists marts.proof_of_reserves (
    business_date date not null,
    currency text not null,
    root_hash text not null check (root_hash ~ '^[0-9a-f]{64}$'),
    root_sum numeric(78, 0) not null check (root_sum >= 0),
    leaf_count bigint not null check (leaf_count >= 0),
    custody_balance numeric(38, 18) null,
    reserve_ratio numeric null,
    primary key (business_date, currency)
);
