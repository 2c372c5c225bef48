{#- Rows with a null in any of `columns`: the not-null checks of a model in one scan
    and one DAG node, rather than a scan and a node per column. -#}
{% test not_null_columns(model, columns) %}

with nulls as (
    select *
    from {{ model }}
    where
        {% for column in columns -%}
            {{ column }} is null{{ ' or' if not loop.last }}
        {% endfor %}
)

select * from nulls

{% endtest %}
