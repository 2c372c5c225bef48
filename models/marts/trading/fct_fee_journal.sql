{#- The fee journal of D the close posts: per (user, fee currency) a journal of two
    legs, `user` -total_fees and `house:fee_revenue` +total_fees. journal_id and
    reference_id derive from (D, user, currency), so posting again adds nothing. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

fees as (
    select * from {{ ref('fct_daily_fees') }}
    where business_date = {{ business_date }} and total_fees <> 0
),

legs as (
    {{ two_leg_journal(
        relation='fees',
        reference_type='fee_journal',
        key_columns=['user_id', 'currency'],
        currency='currency',
        user_amount='-total_fees',
        house_account='house:fee_revenue',
    ) }}
)

select * from legs
