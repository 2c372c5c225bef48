{#- The ledger entries the close of `business_date` (a SQL date literal) counts, with
    `counted_as`: those dated D its recorded snapshot saw, D's fee journal always
    (eod.is_counted_on_time), read through the business_date index, then the late ones
    (eod.ledger_entries_late). The rules live in those functions (eod db migrate's
    R0700); the seal reads the same two parts (eod/seal/canonical.py). -#}
{% macro ledger_entries_counted(business_date) -%}
    select
        entries.entry_id,
        entries.journal_id,
        entries.user_id,
        entries.account,
        entries.currency,
        entries.amount,
        entries.reference_type,
        entries.reference_id,
        entries.reason,
        entries.business_date as entry_business_date,
        entries.effective_at,
        entries.created_by,
        'on_time' as counted_as
    from {{ source('exchange', 'ledger_entries') }} as entries
    where
        entries.business_date = {{ business_date }}
        and eod.is_counted_on_time(
            entries.reference_type,
            entries.tx_id,
            (select eod.close_snapshot({{ business_date }}))
        )
    union all
    select
        late.entry_id,
        late.journal_id,
        late.user_id,
        late.account,
        late.currency,
        late.amount,
        late.reference_type,
        late.reference_id,
        late.reason,
        late.business_date as entry_business_date,
        late.effective_at,
        late.created_by,
        'late' as counted_as
    from eod.ledger_entries_late({{ business_date }}) as late
{%- endmacro %}
