{#- dbt's incremental materialization first writes the model's rows into a temporary
    table and then copies them into the mart. Every incremental model here appends one
    business date after deleting it, so the rows can go straight in: for them the
    "temporary table" is a temporary view, and the append's INSERT ... SELECT runs the
    model's query once, writing the day's rows once. Everything else is built as dbt
    builds it. On a Citus coordinator a model's table is laid out first (macros/citus/). -#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- if citus_lays_out(temporary) -%}
        {{ citus_create_table_as(relation, sql) }}
    {%- elif temporary and config.get('materialized') == 'incremental'
        and config.get('incremental_strategy') == 'append' -%}
        create temporary view {{ relation }} as (
            {{ sql }}
        );
    {%- else -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- endif -%}
{%- endmacro %}
