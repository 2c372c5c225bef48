{{ config(tags=['reconciliation'], store_failures=true) }}

-- A returned row is a custody break of D: custody minus liabilities beyond the
-- currency's tolerance.
select *
from {{ ref('recon_custody') }}
where business_date = {{ business_date_literal(var('business_date', none)) }} and is_break
