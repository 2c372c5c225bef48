{#- Stakers active on D: a position counts when staked_at <= start of D and it is not
    unstaked before the end of D; a staker's stake is the sum of those positions. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

windows as (
    select * from {{ ref('int_business_dates_windowed') }}
    where business_date = {{ business_date }}
),

positions as (
    select * from {{ ref('stg_exchange__staking_positions') }}
),

active as (
    select
        windows.business_date,
        positions.user_id,
        sum(positions.stake_amount) as stake_amount,
        count(*) as position_count
    from positions
    cross join windows
    where
        positions.staked_at <= windows.window_start
        and (positions.unstaked_at is null or positions.unstaked_at >= windows.window_end)
    group by windows.business_date, positions.user_id
)

select * from active
