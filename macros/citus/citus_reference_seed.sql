{#- Post-hook of the seeds: a seed is a small lookup, made a reference table on Citus
    once it is loaded (the local copy Citus leaves behind is emptied). -#}
{% macro citus_reference_seed() -%}
    {%- if citus_enabled() -%}
do $citus_reference_seed$
begin
    if not exists (
        select 1 from pg_dist_partition where logicalrelid = '{{ this }}'::regclass
    ) then
        perform create_reference_table('{{ this }}');
        perform truncate_local_data_after_distributing_table('{{ this }}');
    end if;
end
$citus_reference_seed$
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
