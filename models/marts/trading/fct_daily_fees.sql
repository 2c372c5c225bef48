{#- Trading fees of D per (user, fee currency), as the matching engine took them,
    valued in USDT at the fee currency's mark of D. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

legs as (
    select * from {{ ref('int_trade_legs_split') }}
    where business_date = {{ business_date }}
),

marks as (
    select * from {{ ref('int_mark_prices_resolved') }}
    where business_date = {{ business_date }}
),

fees as (
    select
        user_id,
        fee_currency as currency,
        coalesce(sum(fee) filter (where trade_role = 'maker'), 0) as maker_fees,
        coalesce(sum(fee) filter (where trade_role = 'taker'), 0) as taker_fees,
        sum(fee) as total_fees,
        -- a self-trade is one trade for the user, whatever its two roles; counted
        -- by a flag, not count(distinct), which would sort millions of legs
        count(*) filter (where counts_as_trade) as trade_count
    from legs
    group by user_id, fee_currency
)

select
    {{ business_date }} as business_date,
    fees.user_id,
    fees.currency,
    fees.maker_fees,
    fees.taker_fees,
    fees.total_fees,
    fees.trade_count,
    round(fees.total_fees * marks.mark_price, 18)::numeric(38, 18) as total_fees_usdt
from fees
left join marks on fees.currency = marks.currency
