{#- The business date being closed, as a SQL date literal. Every EOD model takes it
    from the `business_date` var (never from the wall clock) and fails with a clear
    message when it is missing or not YYYY-MM-DD. -#}
{% macro business_date_literal(value) -%}
    {%- if execute -%}
        {%- if value is none or (value | string | trim) == '' -%}
            {{ exceptions.raise_compiler_error(
                "the EOD models need the business date: dbt build --vars '{\"business_date\": \"YYYY-MM-DD\"}'"
            ) }}
        {%- endif -%}
        {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', value | string) -%}
            {{ exceptions.raise_compiler_error(
                "business_date must be YYYY-MM-DD, got '" ~ value ~ "'"
            ) }}
        {%- endif -%}
    {%- endif -%}
    '{{ value }}'::date
{%- endmacro %}
