{#- A table on a Citus coordinator, a view elsewhere (decided when the model runs).
    For rows a per-user model reads from a table distributed by something else (the
    ledger, by journal_id): on Citus they are moved once, worker to worker, into a
    table of the per-user group, so the reads that follow stay inside each shard; on a
    single Postgres there is nothing to move, and the view lets the reader scan the
    source as it always did. -#}
{% materialization table_on_citus, adapter='postgres' %}
    {%- if citus_enabled() -%}
        {{ return(dbt.materialization_table_default()) }}
    {%- else -%}
        {{ return(dbt.materialization_view_default()) }}
    {%- endif -%}
{% endmaterialization %}
