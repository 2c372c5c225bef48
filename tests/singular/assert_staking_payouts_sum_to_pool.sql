-- A returned row means D's payouts do not sum to the pool exactly (ungated), or that
-- a gated date paid something.
with

pool as (
    select * from {{ ref('fct_staking_pool') }}
    where business_date = {{ business_date_literal(var('business_date', none)) }}
),

paid as (
    select coalesce(sum(payout_qtra), 0) as paid_qtra
    from {{ ref('fct_staking_payouts') }}
    where business_date = {{ business_date_literal(var('business_date', none)) }}
)

select
    pool.business_date,
    pool.pool_qtra,
    pool.gated,
    paid.paid_qtra
from pool
cross join paid
where paid.paid_qtra <> case when pool.gated then 0 else pool.pool_qtra end
