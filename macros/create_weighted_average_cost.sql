{#- on-run-start: the sequential weighted-average cost as a Postgres aggregate,
    eod.weighted_average_cost(side, qty, price_usdt, beyond_price, counts, q0, c0),
    folded in (executed_at, trade_id) order. Its state is {position_qty, avg_cost,
    realised_pnl}; q0/c0 seed it with the position carried from D-1.

    A buy of x at p: cost (q*c + x*p)/(q + x), rounded to 18 decimals.
    A sell of x at p: realises min(x, q) * (p - c); the part beyond q realises
    against beyond_price (the mark of D-1, or p when there is none); the position
    never goes below zero and its cost resets to 0 when it reaches zero.
    `counts` is false for trades before D, which only build the position. -#}
{% macro create_weighted_average_cost() -%}
create or replace function eod.weighted_average_cost_step(
    state numeric[], side text, qty numeric, price numeric, beyond_price numeric,
    counts boolean, q0 numeric, c0 numeric
) returns numeric[]
language plpgsql immutable as $fn$
declare
    q numeric := coalesce(state[1], q0, 0);
    c numeric := coalesce(state[2], c0, 0);
    r numeric := coalesce(state[3], 0);
    matched numeric;
begin
    if side = 'buy' then
        c := round((q * c + qty * price) / (q + qty), 18);
        q := q + qty;
    else
        matched := least(qty, q);
        if counts then
            r := r + matched * (price - c)
                + (qty - matched) * (price - coalesce(beyond_price, price));
        end if;
        q := q - matched;
        if q = 0 then
            c := 0;
        end if;
    end if;
    return array[q, c, r];
end
$fn$;

create or replace aggregate eod.weighted_average_cost(
    text, numeric, numeric, numeric, boolean, numeric, numeric
) (
    sfunc = eod.weighted_average_cost_step,
    stype = numeric[]
);
{%- endmacro %}
