{#- The staking reward pool of D: fee revenue of D in USDT times the router's staking
    share, in QTRA at the QTRA mark of D, rounded down to QTRA's decimals. Gated (no
    payouts) when the router row is missing or not open, or the pool or the stakers
    are zero. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

revenue as (
    select coalesce(sum(total_fees_usdt), 0)::numeric(38, 18) as fee_revenue_usdt
    from {{ ref('fct_daily_fees') }}
    where business_date = {{ business_date }}
),

router as (
    select * from {{ ref('stg_exchange__revenue_router') }}
    where business_date = {{ business_date }}
),

qtra as (
    select * from {{ ref('int_mark_prices_resolved') }}
    where business_date = {{ business_date }} and currency = 'QTRA'
),

stakers as (
    select count(*) as staker_count
    from {{ ref('int_staking_stakes_active') }}
    where business_date = {{ business_date }}
),

pooled as (
    select
        revenue.fee_revenue_usdt,
        router.staking_share,
        router.router_status,
        coalesce(
            trunc(
                revenue.fee_revenue_usdt * router.staking_share / nullif(qtra.mark_price, 0),
                qtra.decimals
            ),
            0
        )::numeric(38, 18) as pool_qtra,
        stakers.staker_count
    from revenue
    cross join stakers
    left join router on true
    left join qtra on true
)

select
    {{ business_date }} as business_date,
    fee_revenue_usdt,
    staking_share,
    router_status,
    pool_qtra,
    staker_count,
    (router_status is distinct from 'open' or pool_qtra = 0 or staker_count = 0) as gated
from pooled
