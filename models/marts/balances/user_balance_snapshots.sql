{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        pre_hook="{{ delete_business_dates() }}",
    )
}}

{#- The matching engine's registry captured at the end of D, one row per (user,
    currency), with the proof-of-reserves leaf hash (CONTRACT section 7). The hash
    comes from eod.por_leaf_hash, a SECURITY DEFINER function over the stored HMAC
    pads, so the secret never appears in this SQL, its logs or dbt's artifacts.
    units = total in base units, clamped at 0: negative balances never enter the tree. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

balances as (
    select * from {{ ref('stg_capture__me_balances') }}
    where business_date = {{ business_date }}
),

currencies as (
    select * from {{ ref('stg_exchange__currencies') }}
),

leaves as (
    select
        balances.business_date,
        balances.user_id,
        balances.currency,
        balances.total,
        balances.locked,
        balances.available,
        trunc(greatest(balances.total, 0) * power(10::numeric, currencies.decimals)) as units
    from balances
    inner join currencies on balances.currency = currencies.currency
)

select
    business_date,
    user_id,
    currency,
    total,
    locked,
    available,
    eod.por_leaf_hash(business_date, user_id, currency, units) as leaf_hash
from leaves
