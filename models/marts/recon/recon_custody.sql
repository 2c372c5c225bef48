{#- Custody against liabilities at the end of D, one row per listed currency:
    liabilities are all users' ledger balances (counted as in recon_me_ledger), custody
    the sum over the currency's wallets in currency units. A break when the absolute
    difference exceeds the currency's tolerance. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

currencies as (
    select * from {{ ref('stg_exchange__currencies') }}
),

liabilities as (
    select
        currency,
        sum(ledger_total) as liabilities
    from {{ ref('int_me_ledger_compared') }}
    where business_date = {{ business_date }}
    group by currency
),

custody as (
    select
        currency,
        sum(balance) as custody_balance
    from {{ ref('stg_capture__custody_balances') }}
    where business_date = {{ business_date }}
    group by currency
),

compared as (
    select
        currencies.currency,
        coalesce(liabilities.liabilities, 0) as liabilities,
        coalesce(custody.custody_balance, 0) as custody_balance,
        currencies.custody_tolerance as tolerance
    from currencies
    left join liabilities on currencies.currency = liabilities.currency
    left join custody on currencies.currency = custody.currency
)

select
    {{ business_date }} as business_date,
    currency,
    liabilities,
    custody_balance,
    custody_balance - liabilities as difference,
    tolerance,
    abs(custody_balance - liabilities) > tolerance as is_break
from compared
