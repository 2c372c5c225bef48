{#- The business date whose window holds an instant, as a SQL date expression. An
    instant at or after the cutover on local day L belongs to L+1 (L itself for a
    midnight cutover); an instant exactly at a cutover starts its day. -#}
{% macro business_date_of(instant_sql, cutover) -%}
    {%- set parts = parse_cutover(cutover) -%}
    {%- set local = '(' ~ instant_sql ~ ") at time zone '" ~ parts.zone ~ "'" -%}
    {%- if parts.is_midnight -%}
        ({{ local }})::date
    {%- else -%}
        (({{ local }})::date + case when ({{ local }})::time >= time '{{ parts.at }}' then 1 else 0 end)
    {%- endif -%}
{%- endmacro %}
