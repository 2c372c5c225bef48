{#- Post-hook of a table_on_citus model: fresh statistics where it is a table (Citus),
    nothing where it is a view. -#}
{% macro analyze_if_table() -%}
    {%- set relation = load_relation(this) -%}
    {%- if relation is not none and relation.type == 'table' -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
