{#- Whether a table being created takes the Citus layout: a model's or a snapshot's
    own table on a Citus coordinator (a test's stored failures stay on the coordinator). -#}
{% macro citus_lays_out(temporary) -%}
    {{ return(
        not temporary
        and model is defined and model.resource_type in ('model', 'snapshot')
        and citus_enabled()
    ) }}
{%- endmacro %}
