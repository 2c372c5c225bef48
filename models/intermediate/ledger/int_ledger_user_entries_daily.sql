-- depends_on: {{ ref('int_business_dates_windowed') }}
{{ config(materialized='table_on_citus', post_hook='{{ analyze_if_table() }}') }}

{#- The `user` ledger entries int_ledger_movements_daily sums: those dated D, D's fee
    journal left out (it is counted from the fees, posted or not); on the first date of
    the close chain, every entry dated up to D. A view on a single Postgres. On Citus,
    where the ledger is distributed by journal_id, a table of the per-user group: the
    day's legs move once to their users' shards, and the sum per user runs in each. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close() -%}

with

entries as (
    select
        user_id,
        currency,
        amount
    from {{ ref('stg_exchange__ledger_entries') }}
    where
        is_user_account
        and business_date {{ '<=' if first else '=' }} {{ business_date }}
        and not (reference_type = 'fee_journal' and business_date = {{ business_date }})
)

select * from entries
