{{ config(pre_hook="{{ assert_close_chain() }}") }}

{#- One row per business date ever closed, with its [start, end) window. Every EOD
    model reads D's window from here. The carried-state rule (D needs D-1, except at
    the first date of the close chain, `first_business_date`) is checked here, when
    the model runs: its pre-hook refuses a gap in the closes (assert_close_chain). -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set cutover = env_var('EOD_CUTOVER', '00:00 UTC') -%}
{%- set window = business_date_window(business_date, cutover) -%}
{%- set first = is_first_close() -%}

with

windowed as (
    select
        {{ business_date }} as business_date,
        {{ window.start }} as window_start,
        {{ window["end"] }} as window_end,
        '{{ cutover }}'::text as cutover,
        {{ 'true' if first else 'false' }} as is_first_close
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
