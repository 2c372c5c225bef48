{#- The ledger entries the close of D counts, as macros/ledger_entries_counted
    reads them (the rules: eod db migrate's R0700): those dated D its snapshot
    saw, and the late ones, dated before D, that D-1's snapshot did not see. A view:
    the day's legs are read once, by the models that sum or list them. -#}
{{ config(materialized='view') }}
{%- set business_date = business_date_literal(var('business_date', none)) %}
-- depends_on: {{ source('operations', 'close_snapshots') }}

with

source as (
    {{ ledger_entries_counted(business_date) }}
),

renamed as (
    select
        -- ids
        entry_id,
        journal_id,
        user_id,

        -- posting
        account,
        account = 'user' as is_user_account,
        currency,
        amount,

        -- provenance
        reference_type,
        reference_id,

        -- time
        entry_business_date,
        effective_at,

        -- how D's close counts it: 'on_time' (dated D) or 'late'
        counted_as,
        counted_as = 'late' as is_late
    from source
)

select * from renamed
