{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        pre_hook="{{ delete_business_dates() }}",
    )
}}

{#- The staking payouts of D the close posts: per staker a journal of two legs,
    `user` +payout and `house:staking_rewards` -payout, in QTRA. journal_id and
    reference_id derive from (D, user), so posting again adds nothing. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

payouts as (
    select * from {{ ref('fct_staking_payouts') }}
    where business_date = {{ business_date }} and payout_qtra > 0
),

journals as (
    select
        business_date,
        md5('staking_payout|' || to_char(business_date, 'YYYY-MM-DD') || '|' || user_id)::uuid
            as journal_id,
        to_char(business_date, 'YYYY-MM-DD') || ':' || user_id as reference_id,
        user_id,
        payout_qtra
    from payouts
),

legs as (
    select
        business_date,
        journal_id,
        reference_id,
        user_id,
        'user' as account,  -- noqa: RF04
        'QTRA' as currency,
        payout_qtra as amount
    from journals

    union all

    select
        business_date,
        journal_id,
        reference_id,
        null::bigint as user_id,
        'house:staking_rewards' as account,  -- noqa: RF04
        'QTRA' as currency,
        -payout_qtra as amount
    from journals
)

select * from legs
