{#- Whether the date being built is the first date of the close chain: then a model
    builds its carried state (positions, ledger balances, 30-day volumes) from all
    history once; every later date carries D-1's. Decided from the vars alone, so that
    parse, compile and lint never query the warehouse: D is the first close when it
    equals `first_business_date`, which the close and `eod dbt` set, and when that var
    is left out (D alone is then a chain of one). A first date after D fails the run.
    int_business_dates_windowed checks at run time that the dates already built agree
    (assert_close_chain); the models that call this depend on it. -#}
{% macro is_first_close() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set business_date = var('business_date', none) -%}
    {%- set first = var('first_business_date', none) -%}
    {#- validates the business date, with its own message -#}
    {%- do business_date_literal(business_date) -%}
    {%- if first is none or (first | string | trim) == '' -%}
        {{ return(true) }}
    {%- endif -%}
    {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', first | string) -%}
        {{ exceptions.raise_compiler_error(
            "first_business_date must be YYYY-MM-DD, got '" ~ first ~ "'"
        ) }}
    {%- endif -%}
    {%- if (first | string) > (business_date | string) -%}
        {{ exceptions.raise_compiler_error(
            "business date " ~ business_date ~ " is before the first date of the close chain, "
            ~ first ~ " (first_business_date): the chain starts there"
        ) }}
    {%- endif -%}
    {{ return((first | string) == (business_date | string)) }}
{%- endmacro %}
