{#- Breaks per business date and check, for finance (CONTRACT section 6a), from the
    break records the close's reconcile step keeps. That step runs after the build, so
    this mart is a view: D's rows appear when D's reconcile step has committed its
    records, and stay as they are after (a break's first_date never moves, its
    last_date only moves past D, and every break the close of D no longer carried is
    resolved by then).
    - open: found on D (first_date <= D <= last_date), acknowledged or not;
    - new: first found on D;
    - resolved: last found on D-1 and resolved: cleared by the close of D, or resolved
      by an operator since the close of D-1;
    - oldest_open_days: D - first_date of the oldest open one (0: first found on D),
      null when none is open. -#}
{{ config(materialized='view') }}

with

reconciled as (
    select business_date
    from {{ ref('stg_operations__step_runs') }}
    where step_name = 'reconcile' and step_status = 'succeeded'
),

checks as (
    select
        recon_summary.business_date,
        recon_summary.check_name
    from {{ ref('recon_summary') }} as recon_summary
    inner join reconciled on recon_summary.business_date = reconciled.business_date
),

breaks as (
    select * from {{ ref('stg_operations__recon_breaks') }}
),

-- the breaks a date's figures read: found on D, or last found on D-1
relevant as (
    select
        checks.business_date,
        checks.check_name,
        breaks.first_date,
        breaks.break_status,
        breaks.last_date >= checks.business_date as is_open,
        breaks.last_date = checks.business_date - 1 as was_open_before
    from checks
    inner join breaks
        on
            checks.check_name = breaks.check_name
            and checks.business_date >= breaks.first_date
            and checks.business_date - 1 <= breaks.last_date
),

counted as (
    select
        business_date,
        check_name,
        count(*) filter (where is_open) as open_breaks,
        count(*) filter (where is_open and first_date = business_date) as new_breaks,
        count(*) filter (
            where was_open_before and break_status = 'resolved'
        ) as resolved_breaks,
        max(business_date - first_date) filter (where is_open) as oldest_open_days
    from relevant
    group by business_date, check_name
)

select
    checks.business_date,
    checks.check_name,
    coalesce(counted.open_breaks, 0) as open_breaks,
    coalesce(counted.new_breaks, 0) as new_breaks,
    coalesce(counted.resolved_breaks, 0) as resolved_breaks,
    counted.oldest_open_days
from checks
left join counted
    on
        checks.business_date = counted.business_date
        and checks.check_name = counted.check_name
