{#- One row per reconciliation of D: how many items it checked, how many broke. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

me_ledger as (
    select
        'me_ledger' as check_name,
        count(*) as items_checked,
        count(*) filter (where me_total <> ledger_total) as breaks
    from {{ ref('int_me_ledger_compared') }}
    where business_date = {{ business_date }}
),

custody as (
    select
        'custody' as check_name,
        count(*) as items_checked,
        count(*) filter (where is_break) as breaks
    from {{ ref('recon_custody') }}
    where business_date = {{ business_date }}
),

staking as (
    select
        'staking' as check_name,
        count(*) as items_checked,
        count(*) filter (where is_break) as breaks
    from {{ ref('recon_staking') }}
    where business_date = {{ business_date }}
),

checks as (
    select * from me_ledger
    union all
    select * from custody
    union all
    select * from staking
)

select
    {{ business_date }} as business_date,
    check_name,
    items_checked,
    breaks,
    case when breaks = 0 then 'ok' else 'break' end as status
from checks
