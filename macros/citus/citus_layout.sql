{#- On Citus, place a table dbt just created: `eod.citus_place` (created by `eod db
    migrate`, eod/citus/layout.py) distributes it by journal_id with the ledger when it
    has a journal_id column, else by user_id with the per-user group when it has a
    user_id column, else makes it a reference table; a table placed already is left
    alone. -#}
{% macro citus_layout(relation) -%}
    select eod.citus_place('{{ relation }}'::regclass)
{%- endmacro %}
