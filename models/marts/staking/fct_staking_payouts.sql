{#- Staking payouts of D, pro rata to stake: each staker's exact share rounded down
    to QTRA's base units, then the units left over given one each to the largest
    remainder_unitss (ties: lower user_id first), so that the payouts sum to pool_qtra
    exactly. Integer arithmetic on base units (div/mod) keeps remainder_unitss exact. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

pool as (
    select
        pool.pool_qtra,
        qtra.decimals
    from {{ ref('fct_staking_pool') }} as pool
    cross join {{ ref('stg_exchange__currencies') }} as qtra
    where
        pool.business_date = {{ business_date }}
        and qtra.currency = 'QTRA'
        and not pool.gated
),

stakes as (
    select * from {{ ref('int_staking_stakes_active') }}
    where business_date = {{ business_date }}
),

shares as (
    select
        stakes.user_id,
        stakes.stake_amount,
        pool.decimals,
        pool.pool_qtra * power(10::numeric, pool.decimals) as pool_units,
        sum(stakes.stake_amount) over () as total_stake
    from stakes
    cross join pool
),

floored as (
    select
        user_id,
        stake_amount,
        decimals,
        pool_units,
        div(pool_units * stake_amount, total_stake) as floor_units,
        mod(pool_units * stake_amount, total_stake) as remainder_units
    from shares
),

ranked as (
    select
        *,
        pool_units - sum(floor_units) over () as units_left,
        row_number() over (order by remainder_units desc, user_id asc) as remainder_rank
    from floored
)

select
    {{ business_date }} as business_date,
    user_id,
    stake_amount,
    -- the dividend carries 18 decimals so that the quotient keeps every base unit
    (
        (floor_units + case when remainder_rank <= units_left then 1 else 0 end)::numeric(78, 18)
        / power(10::numeric, decimals)
    )::numeric(38, 18) as payout_qtra
from ranked
