{{ config(tags=['reconciliation'], store_failures=true) }}

-- depends_on: {{ ref('recon_summary') }}
-- (runs after the summary is built, so a break never skips the rest of the close's marts)

-- A returned row is a reconciliation break of D: a (user, currency) whose matching
-- engine total differs from its ledger balance (recon_me_ledger holds break rows only).
select *
from {{ ref('recon_me_ledger') }}
where business_date = {{ business_date_literal(var('business_date', none)) }}
