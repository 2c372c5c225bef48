-- depends_on: {{ ref('int_business_dates_windowed') }}
{# Weighted-average cost and P&L per (user, currency) in USDT, from the trades in
    which the currency is the base, in (executed_at, trade_id) order. D's trades are
    folded onto the position and cost carried from D-1's rows of this model; on the
    first date of the close chain the whole trade history is folded once instead. The
    rules live in the eod.weighted_average_cost aggregate, created by `eod db migrate`
    (eod/migrations/versions/R0200_mart_functions.sql).
    Fees are not in cost or P&L. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close() -%}

with

legs as (
    select * from {{ ref('int_trade_legs_split') }}
),

marks as (
    select * from {{ ref('int_mark_prices_resolved') }}
    where business_date = {{ business_date }}
),

-- read where it is used (it is used twice) rather than gathered once: on Citus each
-- shard then joins its own users' positions
carried as not materialized (
    {%- if first %}
        select
            null::bigint as user_id,
            null::text as currency,
            null::numeric as position_qty,
            null::numeric as avg_cost
        where false
    {%- else %}
        select
            user_id,
            currency,
            position_qty,
            avg_cost
        from {{ this }}
        where business_date = {{ business_date }} - 1
    {%- endif %}
),

folded as (
    select
        legs.user_id,
        legs.base as currency,
        bool_or(legs.business_date = {{ business_date }}) as traded_on_date,
        eod.weighted_average_cost(
            legs.side,
            legs.qty,
            legs.price_usdt,
            -- beyond the trade-built position: the mark of D-1, or the price itself
            coalesce(legs.base_previous_mark_price, legs.price_usdt),
            legs.business_date = {{ business_date }},
            carried.position_qty,
            carried.avg_cost
            order by legs.executed_at, legs.trade_id, legs.trade_role
        ) as cost_state
    from legs
    left join carried
        on legs.user_id = carried.user_id and legs.base = carried.currency
    group by legs.user_id, legs.base
),

positions as (
    select
        coalesce(folded.user_id, carried.user_id) as user_id,
        coalesce(folded.currency, carried.currency) as currency,
        coalesce(folded.cost_state[1], carried.position_qty) as position_qty,
        coalesce(folded.cost_state[2], carried.avg_cost) as avg_cost,
        coalesce(folded.cost_state[3], 0) as realised_pnl,
        coalesce(folded.traded_on_date, false) as traded_on_date
    from folded
    full outer join carried
        on folded.user_id = carried.user_id and folded.currency = carried.currency
),

valued as (
    select
        {{ business_date }} as business_date,
        positions.user_id,
        positions.currency,
        -- USDT amounts to 18 decimals, the ledger's scale
        round(positions.realised_pnl, 18)::numeric(38, 18) as realised_pnl,
        round(positions.position_qty * (marks.mark_price - positions.avg_cost), 18)::numeric(38, 18)
            as unrealised_pnl,
        positions.position_qty::numeric(38, 18) as position_qty,
        positions.avg_cost::numeric(38, 18) as avg_cost,
        marks.mark_price::numeric(38, 18) as mark_price
    from positions
    left join marks on positions.currency = marks.currency
    where positions.traded_on_date or positions.position_qty > 0
)

select * from valued
