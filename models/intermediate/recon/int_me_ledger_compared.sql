{{ config(materialized='table', unlogged=true) }}

{#- Every (user, currency) on either side at the end of D: the matching engine's
    captured total against the ledger balance; a side that has no row counts as 0. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

engine as (
    select
        user_id,
        currency,
        total
    from {{ ref('stg_capture__me_balances') }}
    where business_date = {{ business_date }}
),

ledger as (
    select
        user_id,
        currency,
        ledger_balance
    from {{ ref('int_ledger_balances_carried') }}
    where business_date = {{ business_date }}
),

compared as (
    select
        {{ business_date }} as business_date,
        coalesce(engine.user_id, ledger.user_id) as user_id,
        coalesce(engine.currency, ledger.currency) as currency,
        coalesce(engine.total, 0) as me_total,
        coalesce(ledger.ledger_balance, 0) as ledger_total
    from engine
    full outer join ledger
        on engine.user_id = ledger.user_id and engine.currency = ledger.currency
)

select
    business_date,
    user_id,
    currency,
    me_total,
    ledger_total,
    me_total - ledger_total as difference
from compared
