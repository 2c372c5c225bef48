{#- The staking payouts of D the close posts: per staker a journal of two legs,
    `user` +payout and `house:staking_rewards` -payout, in QTRA. journal_id and
    reference_id derive from (D, user), so posting again adds nothing. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

payouts as (
    select * from {{ ref('fct_staking_payouts') }}
    where business_date = {{ business_date }} and payout_qtra > 0
),

legs as (
    {{ two_leg_journal(
        relation='payouts',
        reference_type='staking_payout',
        key_columns=['user_id'],
        currency="'QTRA'",
        user_amount='payout_qtra',
        house_account='house:staking_rewards',
    ) }}
)

select * from legs
