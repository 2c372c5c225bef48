-- depends_on: {{ ref('int_business_dates_windowed') }}
{# Daily traded volume per user in USDT (qty * price in USDT, counted for each role
    the user had in a trade). The 30-day volume of the fee tiers sums 30 of these
    daily rows instead of 30 days of trades. The first date of the close chain also
    writes the 29 days before it, so the window is full whenever the closes began. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close() -%}

with

legs as (
    select * from {{ ref('int_trade_legs_split') }}
    -- D, and on the first close the 29 days before it as well
    where business_date between {{ business_date }} - {{ 29 if first else 0 }} and {{ business_date }}
),

aggregated as (
    select
        business_date,
        user_id,
        round(sum(volume_usdt), 18)::numeric(38, 18) as volume_usdt,
        count(*) as leg_count
    from legs
    group by business_date, user_id
)

select * from aggregated
