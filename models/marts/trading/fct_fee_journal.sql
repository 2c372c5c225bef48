{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        pre_hook="{{ delete_business_dates() }}",
    )
}}

{#- The fee journal of D the close posts: per (user, fee currency) a journal of two
    legs, `user` -total_fees and `house:fee_revenue` +total_fees. journal_id and
    reference_id derive from (D, user, currency), so posting again adds nothing. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

fees as (
    select * from {{ ref('fct_daily_fees') }}
    where business_date = {{ business_date }} and total_fees <> 0
),

journals as (
    select
        business_date,
        md5('fee_journal|' || to_char(business_date, 'YYYY-MM-DD') || '|' || user_id || '|' || currency)::uuid
            as journal_id,
        to_char(business_date, 'YYYY-MM-DD') || ':' || user_id || ':' || currency as reference_id,
        user_id,
        currency,
        total_fees
    from fees
),

legs as (
    select
        business_date,
        journal_id,
        reference_id,
        user_id,
        'user' as account,  -- noqa: RF04
        currency,
        -total_fees as amount
    from journals

    union all

    select
        business_date,
        journal_id,
        reference_id,
        null::bigint as user_id,
        'house:fee_revenue' as account,  -- noqa: RF04
        currency,
        total_fees as amount
    from journals
)

select * from legs
