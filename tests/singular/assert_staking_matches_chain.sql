{{ config(tags=['reconciliation'], store_failures=true) }}

-- depends_on: {{ ref('recon_summary') }}
-- depends_on: {{ ref('fct_recon_breaks_daily') }}
-- (runs after every mart built from the summary, so a break skips none of them: a
-- skipped fct_recon_breaks_daily would be missing from the seal of the chain's first
-- date and appear under it once a later build creates it)

-- A returned row is a staking break of D: the StakingPool's totalStaked differs from
-- the QTRA in positions open at the end of D (or was not captured).
select *
from {{ ref('recon_staking') }}
where business_date = {{ business_date_literal(var('business_date', none)) }} and is_break
