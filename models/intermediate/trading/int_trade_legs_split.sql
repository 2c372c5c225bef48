-- depends_on: {{ ref('stg_exchange__mark_prices') }}
-- depends_on: {{ ref('int_business_dates_windowed') }}
{{ config(post_hook='analyze {{ this }}') }}

{#- One row per (trade, role): the maker's and the taker's side of every trade D's
    close counts, priced in USDT (pairs not quoted in USDT at the quote's mark of D):
    those executed in D's window that its snapshot sees, and the late ones, executed
    earlier and written after D-1's close read the trades, which D counts as its own.
    On the first date of the close chain it also holds every earlier trade, dated by its own
    business date and priced at its quote's mark of that date, so the carried
    positions and the 30-day volumes can be built from history once. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set cutover = env_var('EOD_CUTOVER', '00:00 UTC') -%}
{%- set first = is_first_close() -%}

{#- The window's bounds are written into the query rather than joined from
    int_business_dates_windowed: only then can Postgres read D's trades through the
    executed_at index instead of scanning every trade ever made. -#}
{%- set window = business_date_window(business_date, cutover) %}

with

marks as (
    select * from {{ ref('int_mark_prices_resolved') }}
),

seen as (
    -- the snapshot D's close reads by (eod.close_snapshots), looked up once
    select eod.close_snapshot({{ business_date }}) as close_view
),

trades as (
    -- the trades D's close can see: all history up to the end of D on the first close,
    -- D's window otherwise
    select trades.*
    from {{ ref('stg_exchange__trades') }} as trades
    where
        trades.executed_at < {{ window.end }}
        and trades.executed_at >= {{ "'-infinity'::timestamptz" if first else window.start }}
        and pg_visible_in_snapshot(trades.tx_id, (select seen.close_view from seen))
    {%- if not first %}
        union all
        -- and the late ones: executed before D, unseen by D-1's close (eod.trades_late)
        select trades.*
        from {{ ref('stg_exchange__trades') }} as trades
        where trades.trade_id in (
            select late.trade_id from eod.trades_late({{ business_date }}, {{ window.start }}) as late
        )
    {%- endif %}
),

legs as (
    -- both roles from one scan of the trades: on Citus each shard of the trades sends
    -- each leg straight to its user's shard
    select
        trades.trade_id,
        trades.executed_at,
        case leg_roles.trade_role when 'maker' then trades.maker_user_id else trades.taker_user_id end
            as user_id,
        leg_roles.trade_role,
        case leg_roles.trade_role when 'maker' then trades.maker_side else trades.taker_side end as side,
        trades.base,
        trades.quote,
        trades.qty,
        trades.price,
        case leg_roles.trade_role when 'maker' then trades.maker_fee else trades.taker_fee end as fee,
        trades.fee_currency,
        -- a self-trade is one trade for the user: its maker leg counts it
        leg_roles.trade_role = 'maker' or trades.taker_user_id <> trades.maker_user_id as counts_as_trade
    from trades
    cross join (values ('maker'), ('taker')) as leg_roles (trade_role)
),

dated as (
    select
        legs.*,
        {%- if first %}
            {{ business_date_of('legs.executed_at', cutover) }} as business_date
        {%- else %}
            {{ business_date }} as business_date
        {%- endif %}
    from legs
),

priced as (
    select
        dated.*,
        case
            when dated.quote = 'USDT' then 1::numeric
            else coalesce(quote_marks.mark_price, history_quote_mark.mark_price)
        end as quote_mark_price,
        base_marks.previous_mark_price as base_previous_mark_price
    from dated
    left join marks as quote_marks
        on dated.quote = quote_marks.currency and dated.business_date = quote_marks.business_date
    left join marks as base_marks
        on dated.base = base_marks.currency and dated.business_date = base_marks.business_date
    {%- if first %}
        -- trades before D (first close only): the quote's mark of their own date
        left join lateral (
            select mark_prices.mark_price
            from {{ ref('stg_exchange__mark_prices') }} as mark_prices
            where
                dated.business_date < {{ business_date }}
                and mark_prices.currency = dated.quote
                and mark_prices.as_of < {{ business_date_window('dated.business_date', cutover)["end"] }}
            order by mark_prices.as_of desc
            limit 1
        ) as history_quote_mark on true
    {%- else %}
        cross join (select null::numeric as mark_price) as history_quote_mark
    {%- endif %}
)

select
    business_date,
    trade_id,
    executed_at,
    user_id,
    trade_role,
    side,
    base,
    quote,
    qty,
    price,
    quote_mark_price,
    price * quote_mark_price as price_usdt,
    qty * price * quote_mark_price as volume_usdt,
    base_previous_mark_price,
    fee,
    fee_currency,
    counts_as_trade
from priced
