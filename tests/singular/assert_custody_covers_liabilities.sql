{{ config(tags=['reconciliation'], store_failures=true) }}

-- depends_on: {{ ref('recon_summary') }}
-- (runs after the summary is built, so a break never skips the rest of the close's marts)

-- A returned row is a custody break of D: custody minus liabilities beyond the
-- currency's tolerance.
select *
from {{ ref('recon_custody') }}
where business_date = {{ business_date_literal(var('business_date', none)) }} and is_break
