{#- The cutover instant on a local calendar day of the cutover's zone, as timestamptz,
    read as RFC 5545 reads a local time (and Python's zoneinfo with fold=0, which
    eod.business_date uses): a wall time that occurs twice (a fall-back day) is its
    first occurrence; one that does not occur (in the hour a spring-forward day skips)
    is read with the UTC offset in force before the jump.
    `timezone(zone, local timestamp)` alone gives the second occurrence of a repeated
    wall time. `earlier` reads the wall time with the offset of the day before (that
    is the first occurrence when the wall time repeats) and is kept only when it
    really reads as that wall time and comes first. Every function here is immutable,
    so a literal day folds into a constant and an index on the instant serves. -#}
{% macro cutover_instant(local_day_sql, cutover) -%}
    {%- set parts = parse_cutover(cutover) -%}
    {%- set zone = "'" ~ parts.zone ~ "'" -%}
    {%- set wall = "((" ~ local_day_sql ~ ")::date + time '" ~ parts.at ~ "')" -%}
    {%- set later = "timezone(" ~ zone ~ ", " ~ wall ~ ")" -%}
    {%- set earlier = "timezone('UTC', timezone('UTC', timezone(" ~ zone ~ ", " ~ wall
        ~ " - interval '1 day')) + interval '1 day')" -%}
    (case
        when {{ earlier }} < {{ later }} and timezone({{ zone }}, {{ earlier }}) = {{ wall }}
            then {{ earlier }}
        else {{ later }}
    end)
{%- endmacro %}
