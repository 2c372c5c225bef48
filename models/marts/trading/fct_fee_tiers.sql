-- depends_on: {{ ref('int_business_dates_windowed') }}
{# Fee tier per user from the 30-day volume (D-29..D of the daily volume rows): the
    highest tier of the fee schedule whose threshold the volume reaches, effective the
    next day. Users with no volume in the 30 days have no row. The window rolls: D-1's
    30-day volume plus D's volume minus D-30's, so a day reads two days of volumes
    rather than thirty; the first date of the close chain sums its backfilled window
    instead. Sums of numeric are exact, so both ways give the same figures. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set rolls = is_incremental() and not is_first_close() -%}

with

-- each user's volume of D, and how the 30-day volume changes from D-1's: D enters the
-- window as D-30 leaves it (the first date sums its whole backfilled window instead)
daily as (
    select
        user_id,
        coalesce(sum(volume_usdt) filter (where business_date = {{ business_date }}), 0)
            as volume_1d,
        sum(case when business_date = {{ business_date }} - 30 then -volume_usdt else volume_usdt end)
            as volume_change
    from {{ ref('int_user_volumes_aggregated') }}
    {%- if rolls %}
        where business_date in ({{ business_date }}, {{ business_date }} - 30)
    {%- else %}
        where business_date between {{ business_date }} - 29 and {{ business_date }}
    {%- endif %}
    group by user_id
),

carried as (
    {%- if rolls %}
        select
            user_id,
            volume_30d
        from {{ this }}
        where business_date = {{ business_date }} - 1
    {%- else %}
        select
            null::bigint as user_id,
            null::numeric as volume_30d
        where false
    {%- endif %}
),

schedule as (
    select * from {{ ref('fee_schedule') }}
),

-- joined rather than stacked and grouped: on Citus the two sides, both per user, meet
-- inside each shard
rolled as (
    select
        coalesce(daily.user_id, carried.user_id) as user_id,
        coalesce(daily.volume_1d, 0)::numeric(38, 18) as volume_1d,
        (coalesce(daily.volume_change, 0) + coalesce(carried.volume_30d, 0))::numeric(38, 18)
            as volume_30d
    from daily
    full outer join carried on daily.user_id = carried.user_id
    where coalesce(daily.volume_change, 0) + coalesce(carried.volume_30d, 0) > 0
)

select
    {{ business_date }} as business_date,
    rolled.user_id,
    rolled.volume_1d,
    rolled.volume_30d,
    tier.tier,
    tier.maker_fee_bps,
    tier.taker_fee_bps,
    {{ business_date }} + 1 as effective_date
from rolled
cross join lateral (
    select
        schedule.tier,
        schedule.maker_fee_bps,
        schedule.taker_fee_bps
    from schedule
    where schedule.threshold_usdt <= rolled.volume_30d
    order by schedule.threshold_usdt desc
    limit 1
) as tier
