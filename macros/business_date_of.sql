{#- The business date whose window holds an instant, as a SQL date expression: with
    L the instant's local date, L+1 when the instant is at or after the cutover of
    local day L, else L (for a midnight cutover: L, or L+1 from the cutover that
    starts local day L+1). Compared with the cutover instant (cutover_instant's
    reading of the wall time) rather than the local clock: on a fall-back day the
    clock reads the same times twice, and an instant must not fall back into the day
    that ended; an instant exactly at a cutover starts its day.
    Evaluated per row (every trade on the first close), so it is written out rather
    than built from cutover_instant: the instant is at or after the cutover when it
    is at or after `later` (Postgres's reading, the second occurrence of a repeated
    wall time) or, failing that, at or after `earlier` while that reads as the wall
    time (the first occurrence); CASE stops at the first test that holds. -#}
{% macro business_date_of(instant_sql, cutover) -%}
    {%- set parts = parse_cutover(cutover) -%}
    {%- set zone = "'" ~ parts.zone ~ "'" -%}
    {%- set local_day = '((' ~ instant_sql ~ ') at time zone ' ~ zone ~ ')::date' -%}
    {%- set wall = '(' ~ local_day ~ (' + 1' if parts.is_midnight else '') ~ " + time '" ~ parts.at ~ "')" -%}
    {%- set later = "timezone(" ~ zone ~ ", " ~ wall ~ ")" -%}
    {%- set earlier = "timezone('UTC', timezone('UTC', timezone(" ~ zone ~ ", " ~ wall
        ~ " - interval '1 day')) + interval '1 day')" -%}
    ({{ local_day }} + case
        when ({{ instant_sql }}) >= {{ later }} then 1
        when ({{ instant_sql }}) >= {{ earlier }} and timezone({{ zone }}, {{ earlier }}) = {{ wall }} then 1
        else 0
    end)
{%- endmacro %}
