{{ config(tags=['reconciliation'], store_failures=true) }}

-- depends_on: {{ ref('recon_summary') }}
-- (runs after the summary is built, so a break never skips the rest of the close's marts)

-- A returned row is a staking break of D: the StakingPool's totalStaked differs from
-- the QTRA in positions open at the end of D (or was not captured).
select *
from {{ ref('recon_staking') }}
where business_date = {{ business_date_literal(var('business_date', none)) }} and is_break
