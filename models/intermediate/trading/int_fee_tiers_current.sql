{{ config(materialized='view') }}

{#- The tiers decided by the latest close, one row per user: the relation the
    fee_tier_history snapshot records changes of. -#}

with

tiers as (
    select * from {{ ref('fct_fee_tiers') }}
),

latest_date as (
    select max(business_date) as business_date from tiers
),

latest as (
    select
        tiers.user_id,
        tiers.tier,
        tiers.maker_fee_bps,
        tiers.taker_fee_bps,
        tiers.effective_date
    from tiers
    inner join latest_date on tiers.business_date = latest_date.business_date
)

select * from latest
