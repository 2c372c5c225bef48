{#- How the date being built relates to earlier closes, from the windows already built:
    'first' when no earlier date was ever closed, 'carry' when the previous business
    date was closed. A gap (earlier closes exist, D-1 does not) fails the run: D's
    carried state (positions, ledger balances, volumes) would be wrong. -#}
{% macro previous_close_state(business_date) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return('first') }}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) filter (where business_date < " ~ business_date ~ "), "
        ~ "count(*) filter (where business_date = " ~ business_date ~ " - 1) from " ~ this
    ) -%}
    {%- set earlier, previous = found.rows[0][0], found.rows[0][1] -%}
    {%- if earlier == 0 -%}
        {{ return('first') }}
    {%- elif previous == 0 -%}
        {{ exceptions.raise_compiler_error(
            "business date " ~ business_date ~ " needs the state of the previous business date, "
            ~ "which was never closed: close the earlier dates first"
        ) }}
    {%- endif -%}
    {{ return('carry') }}
{%- endmacro %}
