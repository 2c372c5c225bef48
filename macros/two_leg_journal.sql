{#- The legs of D's journals the close posts, two per journal: the user's leg of
    `user_amount` on account `user`, and the house's opposite leg on `house_account`,
    so that each journal sums to zero. One journal per row of `relation`, keyed by the
    business date and `key_columns`: journal_id = md5 of
    '<reference_type>|D|key|key...' as a uuid, reference_id = 'D:key:key...'. Both
    derive from the key alone, so posting the journal again adds nothing. -#}
{% macro two_leg_journal(relation, reference_type, key_columns, currency, user_amount, house_account) -%}
    {%- set keys = ["to_char(business_date, 'YYYY-MM-DD')"] + key_columns -%}
    with

    journals as (
        select
            business_date,
            md5('{{ reference_type }}|' || {{ keys | join(" || '|' || ") }})::uuid as journal_id,
            {{ keys | join(" || ':' || ") }} as reference_id,
            user_id,
            {{ currency }} as currency,
            {{ user_amount }} as user_amount
        from {{ relation }}
    )

    select
        business_date,
        journal_id,
        reference_id,
        user_id,
        'user' as account,  -- noqa: RF04
        currency,
        user_amount as amount
    from journals

    union all

    select
        business_date,
        journal_id,
        reference_id,
        null::bigint as user_id,
        '{{ house_account }}' as account,  -- noqa: RF04
        currency,
        -user_amount as amount
    from journals
{%- endmacro %}
