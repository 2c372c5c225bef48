{{ config(post_hook='analyze {{ this }}') }}

{#- Each user's net ledger movement per currency counted by D's close (the entries
    dated D it could see and the late entries it found), D's fee journal left out:
    summed once, so that the carried balances need not wait for
    the fee journal before reading millions of entries. On the first date of the
    close chain it is the whole history up to D instead. -#}
with

entries as (
    select
        user_id,
        currency,
        amount
    from {{ ref('int_ledger_user_entries_daily') }}
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
