{#- [start, end) of a business date (CONTRACT section 3) as two timestamptz SQL
    expressions. D ends at the first cutover at or after the local midnight that
    starts D: D+1 00:00 for a midnight cutover, D at the cutover time otherwise; it
    starts at the cutover one local day earlier. Mirrors eod.business_date.Cutover. -#}
{% macro business_date_window(day_sql, cutover) -%}
    {%- set parts = parse_cutover(cutover) -%}
    {%- set end_day = '(' ~ day_sql ~ ')::date + 1' if parts.is_midnight else '(' ~ day_sql ~ ')::date' -%}
    {{ return({
        'start': cutover_instant(end_day ~ ' - 1', cutover),
        'end': cutover_instant(end_day, cutover),
    }) }}
{%- endmacro %}
