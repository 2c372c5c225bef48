{#- Pre-hook of the models kept per business date (dbt_project.yml): delete the
    partitions this run rewrites, in the same transaction as the insert, so rebuilding
    D replaces exactly D and never appends duplicates. `backfill_days` widens it on the
    first close, where a model also writes the earlier dates it backfills (the 30-day
    volume window). -#}
{% macro delete_business_dates(backfill_days=0) -%}
    {%- if is_incremental() -%}
        {%- set business_date = business_date_literal(var('business_date', none)) -%}
        {%- set first = backfill_days > 0 and is_first_close() -%}
        delete from {{ this }}
        where business_date between {{ business_date }} - {{ backfill_days if first else 0 }}
            and {{ business_date }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
