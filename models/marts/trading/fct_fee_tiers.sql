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

volumes as (
    select
        business_date,
        user_id,
        volume_usdt
    from {{ ref('int_user_volumes_aggregated') }}
    {%- if rolls %}
        where business_date = {{ business_date }}
        union all
        select
            business_date,
            user_id,
            -volume_usdt
        from {{ ref('int_user_volumes_aggregated') }}
        where business_date = {{ business_date }} - 30
        union all
        select
            business_date,
            user_id,
            volume_30d
        from {{ this }}
        where business_date = {{ business_date }} - 1
    {%- else %}
        where business_date between {{ business_date }} - 29 and {{ business_date }}
    {%- endif %}
),

schedule as (
    select * from {{ ref('fee_schedule') }}
),

rolled as (
    select
        user_id,
        coalesce(sum(volume_usdt) filter (where business_date = {{ business_date }}), 0)::numeric(38, 18)
            as volume_1d,
        sum(volume_usdt)::numeric(38, 18) as volume_30d
    from volumes
    group by user_id
    having sum(volume_usdt) > 0
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
