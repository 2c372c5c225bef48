-- depends_on: {{ ref('int_business_dates_windowed') }}
{{ config(post_hook='analyze {{ this }}') }}

{#- Each user's net ledger movement per currency on D, D's fee journal left out: the
    day's `user` entries summed once, so that the carried balances need not wait for
    the fee journal before reading millions of entries. On the first date of the
    close chain it is the whole history up to D instead. -#}
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
        -- D's fee journal is counted from fct_fee_journal, posted or not
        and not (reference_type = 'fee_journal' and business_date = {{ business_date }})
),

movements as (
    select
        user_id,
        currency,
        sum(amount) as movement
    from entries
    group by user_id, currency
)

select * from movements
