{#- Post-hook of the seeds: on Citus a loaded seed (a lookup, with no user_id) is placed
    once, as a reference table (citus_layout); on a plain Postgres, nothing. -#}
{% macro citus_reference_seed() -%}
    {%- if citus_enabled() -%}
        {{ citus_layout(this) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
