{{ config(tags=['reconciliation'], store_failures=true) }}

-- depends_on: {{ ref('recon_summary') }}
-- depends_on: {{ ref('fct_recon_breaks_daily') }}
-- (runs after every mart built from the summary, so a break skips none of them: a
-- skipped fct_recon_breaks_daily would be missing from the seal of the chain's first
-- date and appear under it once a later build creates it)

-- A returned row is a reconciliation break of D: a (user, currency) whose matching
-- engine total differs from its ledger balance (recon_me_ledger holds break rows only).
select *
from {{ ref('recon_me_ledger') }}
where business_date = {{ business_date_literal(var('business_date', none)) }}
