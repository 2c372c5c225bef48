{#- Staking positions against the StakingPool contract at the end of D: db_total is
    the QTRA in positions open at the end of D (staked before it, not unstaked before
    it). Exact match required; a missing on-chain capture is a break. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

windows as (
    select * from {{ ref('int_business_dates_windowed') }}
    where business_date = {{ business_date }}
),

positions as (
    select coalesce(sum(positions.stake_amount), 0) as db_total
    from {{ ref('stg_exchange__staking_positions') }} as positions
    cross join windows
    where
        positions.staked_at < windows.window_end
        and (positions.unstaked_at is null or positions.unstaked_at >= windows.window_end)
),

onchain as (
    select total_staked as onchain_total
    from {{ ref('stg_capture__onchain_staking') }}
    where business_date = {{ business_date }}
)

select
    {{ business_date }} as business_date,
    positions.db_total,
    onchain.onchain_total,
    onchain.onchain_total - positions.db_total as difference,
    coalesce(onchain.onchain_total <> positions.db_total, true) as is_break
from positions
left join onchain on true
