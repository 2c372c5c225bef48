{#- The cutover instant on a local calendar day of the cutover's zone, as timestamptz.
    `timezone(zone, local timestamp)` reads the wall time in that zone, so the
    instants follow the zone's DST rules (23- and 25-hour business dates). -#}
{% macro cutover_instant(local_day_sql, cutover) -%}
    {%- set parts = parse_cutover(cutover) -%}
    timezone('{{ parts.zone }}', ({{ local_day_sql }})::date + time '{{ parts.at }}')
{%- endmacro %}
