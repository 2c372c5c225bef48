{#- D's marks per currency: the mark of D (latest as_of before the end of D) and the
    mark of D-1 (latest before the start of D). USDT is the valuation currency, 1.
    One index probe per currency: the mark history is never scanned. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

windows as (
    select * from {{ ref('int_business_dates_windowed') }}
    where business_date = {{ business_date }}
),

currencies as (
    select * from {{ ref('stg_exchange__currencies') }}
),

marks as (
    select * from {{ ref('stg_exchange__mark_prices') }}
),

resolved as (
    select
        windows.business_date,
        currencies.currency,
        currencies.decimals,
        case
            when currencies.currency = 'USDT' then 1::numeric else mark_of_day.mark_price
        end as mark_price,
        case
            when currencies.currency = 'USDT' then 1::numeric else mark_of_previous_day.mark_price
        end as previous_mark_price
    from currencies
    cross join windows
    left join lateral (
        select marks.mark_price
        from marks
        where marks.currency = currencies.currency and marks.as_of < windows.window_end
        order by marks.as_of desc
        limit 1
    ) as mark_of_day on true
    left join lateral (
        select marks.mark_price
        from marks
        where marks.currency = currencies.currency and marks.as_of < windows.window_start
        order by marks.as_of desc
        limit 1
    ) as mark_of_previous_day on true
)

select * from resolved
