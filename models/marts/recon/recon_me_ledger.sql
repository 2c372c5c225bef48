{#- Matching engine against ledger at the end of D, break rows only: every
    (user, currency) whose engine total differs from its ledger balance (D's fee
    journal counted once, posted or not; a missing side counts as 0). -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

compared as (
    select * from {{ ref('int_me_ledger_compared') }}
    where business_date = {{ business_date }}
)

select
    business_date,
    user_id,
    currency,
    me_total,
    ledger_total,
    me_total - ledger_total as difference
from compared
where me_total <> ledger_total
