{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[{'columns': ['business_date']}],
        pre_hook="{{ delete_business_dates() }}",
    )
}}

{#- One row per business date ever closed, with its [start, end) window. Every EOD
    model reads D's window from here; the carried-state rule (D needs D-1, except at
    the first date ever closed) is decided once, here. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set cutover = env_var('EOD_CUTOVER', '00:00 UTC') -%}
{%- set window = business_date_window(business_date, cutover) -%}
{%- set close_state = previous_close_state(business_date) -%}

with

windowed as (
    select
        {{ business_date }} as business_date,
        {{ window.start }} as window_start,
        {{ window["end"] }} as window_end,
        '{{ cutover }}'::text as cutover,
        {{ 'true' if close_state == 'first' else 'false' }} as is_first_close
)

select
    business_date,
    window_start,
    window_end,
    cutover,
    is_first_close,
    -- hours in the window: 23 or 25 on DST change days for a zone with DST
    (extract(epoch from window_end - window_start) / 3600)::numeric(5, 2) as window_hours
from windowed
