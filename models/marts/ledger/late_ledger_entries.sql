{#- The late ledger entries the close of D found: dated before D, seen by D's snapshot
    and not by D-1's (int_ledger_entries_counted). D counts them; they are
    listed here once, under the close that found them. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

late as (
    select * from {{ ref('int_ledger_entries_counted') }}
    where is_late
)

select
    {{ business_date }} as business_date,
    entry_id,
    journal_id,
    user_id,
    currency,
    amount,
    entry_business_date
from late
