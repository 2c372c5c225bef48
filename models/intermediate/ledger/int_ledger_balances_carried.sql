-- depends_on: {{ ref('int_business_dates_windowed') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[{'columns': ['business_date']}],
        pre_hook="{{ delete_business_dates() }}",
    )
}}

{#- Every user's ledger balance per currency at the end of D, counted as the
    reconciliations count it: the `user` entries with business_date <= D, with D's
    fee journal counted once (from fct_fee_journal, whether or not it is posted yet).
    Carried: D-1's closing balance plus D's net movements (int_ledger_movements_daily);
    only the first date ever closed sums the ledger's history. Zero balances are left
    out (absent means zero). -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close(business_date) -%}
{%- if execute and not first and not is_incremental() -%}
    {{ exceptions.raise_compiler_error(
        "int_ledger_balances_carried has no state before " ~ business_date ~ ": close the first date again"
    ) }}
{%- endif -%}

with

daily_movements as (
    select
        user_id,
        currency,
        movement as amount
    from {{ ref('int_ledger_movements_daily') }}
),

fee_journal as (
    select
        user_id,
        currency,
        amount
    from {{ ref('fct_fee_journal') }}
    where business_date = {{ business_date }} and account = 'user'
),

{%- if not first %}

carried as (
    select
        user_id,
        currency,
        ledger_balance as amount
    from {{ this }}
    where business_date = {{ business_date }} - 1
),
{%- endif %}

movements as (
    select * from daily_movements
    union all
    select * from fee_journal
    {%- if not first %}
        union all
        select * from carried
    {%- endif %}
),

balances as (
    select
        {{ business_date }} as business_date,
        user_id,
        currency,
        sum(amount) as ledger_balance
    from movements
    group by user_id, currency
    having sum(amount) <> 0
)

select * from balances
