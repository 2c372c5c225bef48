{{ config(materialized='view') }}

{#- The tiers decided by the latest close, one row per user: the relation the
    fee_tier_history snapshot records changes of. -#}

with

tiers as (
    select * from {{ ref('fct_fee_tiers') }}
),

latest as (
    select
        user_id,
        tier,
        maker_fee_bps,
        taker_fee_bps,
        effective_date
    from tiers
    where business_date = (select max(business_date) from tiers)
)

select * from latest
