{#- Schemas are named exactly as configured (staging, intermediate, marts, ...):
    finance reads `marts.*`, so the target schema must not prefix them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
