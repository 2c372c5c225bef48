{#- Whether the warehouse is a Citus coordinator (`create extension citus` was run in
    it). Asked of the database when a table is created, never at parse time, so the
    same project builds on a plain Postgres and on Citus. -#}
{% macro citus_enabled() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select exists (select 1 from pg_catalog.pg_extension where extname = 'citus')"
    ) -%}
    {{ return(found.rows[0][0]) }}
{%- endmacro %}
