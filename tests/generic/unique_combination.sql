{#- Rows that share the same values of `columns`: a key of the model is violated. -#}
{% test unique_combination(model, columns) %}

with duplicates as (
    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
)

select * from duplicates

{% endtest %}
