-- A returned row is a published proof-of-reserves root whose reserve_ratio is not
-- custody_balance / (root_sum in currency units): ratio times root sum misses the
-- custody balance by more than a millionth of a millionth of it (the ratio is a
-- quotient Postgres rounds to 16 or more significant digits). Checked over the roots
-- of D-1 (published by the previous close) and of D, as the source's other tests are
-- (none without a business date: the test also runs with the staging models it reads).
{%- set business_date = business_date_literal(var('business_date', none) or '1970-01-01') %}

with

roots as (
    select * from {{ source('close', 'proof_of_reserves') }}
    where business_date between {{ business_date }} - 1 and {{ business_date }}
),

currencies as (
    select * from {{ ref('stg_exchange__currencies') }}
),

compared as (
    select
        roots.business_date,
        roots.currency,
        roots.root_sum,
        roots.custody_balance,
        roots.reserve_ratio,
        roots.reserve_ratio * (roots.root_sum / power(10::numeric, currencies.decimals))
        - roots.custody_balance as difference
    from roots
    inner join currencies on roots.currency = currencies.currency
    where roots.reserve_ratio is not null
)

select *
from compared
where abs(difference) > custody_balance * 1e-12
