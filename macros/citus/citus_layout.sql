{#- On Citus, where a table dbt just created (empty) goes, by its columns: the rule of
    eod.citus.layout for the tables the migrations create.
    - a `journal_id` column: legs of journals, some with no user (house legs), so
      distributed by journal_id with the ledger (posting is shard to shard);
    - else a `user_id` column: distributed by user_id with the per-user group
      (eod.me_balances), so joins and GROUP BYs on user_id stay inside a shard;
    - else (a few rows per date, or lookups): a reference table, on every node.
    A table already laid out (the target of an incremental run) is left alone. -#}
{% macro citus_layout(relation) -%}
do $citus_layout$
declare
    target constant regclass := '{{ relation }}'::regclass;
    columns text[];
begin
    if exists (select 1 from pg_dist_partition where logicalrelid = target) then
        return;
    end if;
    select array_agg(attname::text) into columns
    from pg_attribute
    where attrelid = target and attnum > 0 and not attisdropped;
    if 'journal_id' = any(columns) then
        perform create_distributed_table(
            target, 'journal_id', colocate_with => 'exchange.ledger_entries'
        );
    elsif 'user_id' = any(columns) then
        perform create_distributed_table(target, 'user_id', colocate_with => 'eod.me_balances');
    else
        perform create_reference_table(target);
    end if;
end
$citus_layout$
{%- endmacro %}
