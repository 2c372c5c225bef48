{#- Whether the date being built is the first date ever closed (no earlier close at
    all): then a model builds its carried state from all history once. Read from
    int_business_dates_windowed, which already refused a date whose previous date was
    never closed. Models calling this must depend on that model. -#}
{% macro is_first_close(business_date) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set windows = ref('int_business_dates_windowed') -%}
    {%- if load_relation(windows) is none -%}
        {#- nothing was ever closed in this database (also how a linter compiles) -#}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = run_query(
        "select is_first_close from " ~ windows ~ " where business_date = " ~ business_date
    ) -%}
    {%- if found.rows | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "no window for business date " ~ business_date ~ ": build int_business_dates_windowed first"
        ) }}
    {%- endif -%}
    {{ return(found.rows[0][0]) }}
{%- endmacro %}
