-- depends_on: {{ ref('int_business_dates_windowed') }}
-- depends_on: {{ ref('stg_exchange__ledger_entries') }}
-- depends_on: {{ ref('int_ledger_entries_counted') }}
{{ config(materialized='table_on_citus', post_hook='{{ analyze_if_table() }}') }}

{#- The `user` ledger entries int_ledger_movements_daily sums: those D's close counts
    (int_ledger_entries_counted: dated D and seen by D's snapshot, plus the
    late entries dated before D that D-1's close could not see), D's fee journal left
    out (it is counted from the fees, posted or not); on the first date of the close
    chain, every entry dated up to D that D's snapshot sees. A view on a single
    Postgres. On Citus, where the ledger is distributed by journal_id, a table of the
    per-user group: the day's legs move once to their users' shards, and the sum per
    user runs in each. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close() -%}

with

entries as (
    {%- if first %}
        select
            user_id,
            currency,
            amount
        from {{ ref('stg_exchange__ledger_entries') }}
        where
            is_user_account
            and business_date <= {{ business_date }}
            and not (reference_type = 'fee_journal' and business_date = {{ business_date }})
            and pg_visible_in_snapshot(tx_id, (select eod.close_snapshot({{ business_date }})))
    {%- else %}
        select
            user_id,
            currency,
            amount
        from {{ ref('int_ledger_entries_counted') }}
        where
            is_user_account
            and not (reference_type = 'fee_journal' and entry_business_date = {{ business_date }})
    {%- endif %}
)

select * from entries
