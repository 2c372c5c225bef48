{#- A model's or snapshot's table on Citus: created empty from the query, laid out
    (citus_layout), then filled by INSERT ... SELECT. Filled after it is distributed,
    the rows go from shard to shard (or are repartitioned between workers) instead of
    being gathered into a coordinator table by CREATE TABLE AS and copied out again. -#}
{% macro citus_create_table_as(relation, sql) -%}
    create {% if config.get('unlogged') %}unlogged {% endif %}table {{ relation }} as (
        {{ sql }}
    ) with no data;
    {{ citus_layout(relation) }};
    insert into {{ relation }} (
        {{ sql }}
    );
{%- endmacro %}
