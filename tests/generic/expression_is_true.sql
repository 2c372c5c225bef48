{#- Rows for which `expression` is not true (false or null). -#}
{% test expression_is_true(model, expression) %}

with violations as (
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
)

select * from violations

{% endtest %}
