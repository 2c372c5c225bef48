{#- The legs of D's journals the close posts, two per journal: the user's leg of
    `user_amount` on account `user`, and the house's opposite leg on `house_account`,
    so that each journal sums to zero. One journal per row of `relation`, keyed by the
    business date and `key_columns`: journal_id = md5 of
    '<reference_type>|D|key|key...' as a uuid, reference_id = 'D:key:key...'. Both
    derive from the key alone, so posting the journal again adds nothing. -#}
{% macro two_leg_journal(relation, reference_type, key_columns, currency, user_amount, house_account) -%}
    {%- set keys = ["to_char(business_date, 'YYYY-MM-DD')"] + key_columns -%}
    {#- Both legs come from one scan of `relation`: on Citus that scan runs in each
        shard and the legs go straight to their journal's shard. -#}
    select
        {{ relation }}.business_date,
        md5('{{ reference_type }}|' || {{ keys | join(" || '|' || ") }})::uuid as journal_id,
        {{ keys | join(" || ':' || ") }} as reference_id,
        case when sides.account = 'user' then {{ relation }}.user_id end as user_id,
        sides.account,
        {{ currency }} as currency,
        case when sides.account = 'user' then {{ user_amount }} else -({{ user_amount }}) end
            as amount
    from {{ relation }}
    cross join (values ('user'), ('{{ house_account }}')) as sides (account)
{%- endmacro %}
