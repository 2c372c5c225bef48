{#- Pre-hook of int_business_dates_windowed: the run-time check that the close chain
    the vars describe (is_first_close) is the one the warehouse holds, against the
    business dates already built, before D's window is written. A carried date needs
    D-1 closed (a gap would lose D-1's positions, ledger balances and volumes); a first
    close needs no earlier date closed. A failure raises, so the window and every model
    built from it fail with the message. The query runs when the hook does, never
    while dbt parses or compiles. -#}
{% macro assert_close_chain() -%}
    {%- set business_date = business_date_literal(var('business_date', none)) -%}
    {%- set windows = this.include(database=false) -%}
do $chain$
declare
    earlier date;
begin
    {%- if is_first_close() %}
    -- D starts the chain: no business date before it may have been closed
    if to_regclass('{{ windows }}') is not null then
        select min(business_date) into earlier from {{ windows }}
        where business_date < {{ business_date }};
        if earlier is not null then
            raise exception 'business date % is built as the first date of the close chain, but % '
                'was closed before it: set first_business_date to the chain''s first date '
                '(eod dbt and the close do)', {{ business_date }}, earlier;
        end if;
    end if;
    {%- else %}
    -- D carries the state of D-1, which must have been closed
    if to_regclass('{{ windows }}') is null then
        earlier := null;
    else
        select business_date into earlier from {{ windows }}
        where business_date = {{ business_date }} - 1;
    end if;
    if earlier is null then
        raise exception 'business date % needs the state of the previous business date %, which '
            'was never closed: close the earlier dates first', {{ business_date }}, {{ business_date }} - 1;
    end if;
    {%- endif %}
end
$chain$
{%- endmacro %}
