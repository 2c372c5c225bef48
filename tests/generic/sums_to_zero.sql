{#- Groups whose `column_name` does not sum to zero: an unbalanced journal. -#}
{% test sums_to_zero(model, column_name, group_by) %}

with unbalanced as (
    select
        {{ group_by | join(', ') }},
        sum({{ column_name }}) as total
    from {{ model }}
    group by {{ group_by | join(', ') }}
    having sum({{ column_name }}) <> 0
)

select * from unbalanced

{% endtest %}
