{#- The matching engine's registry captured at the end of D, one row per (user,
    currency), with the proof-of-reserves leaf hash (CONTRACT section 7). The nonces
    come from eod.por_nonces, a SECURITY DEFINER function over the stored HMAC pads
    called once for the whole date (on Citus, with the var `citus`, from the view
    eod.por_user_nonces, which derives them in each shard beside the balances), so the
    secret never appears in this SQL, its logs or dbt's artifacts; eod.por_leaf
    (inlined by Postgres) hashes each leaf.
    units = total in base units, clamped at 0: negative balances never enter the tree. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}

with

balances as (
    select * from {{ ref('stg_capture__me_balances') }}
    where business_date = {{ business_date }}
),

currencies as (
    select
        currency,
        -- once per currency, not once per balance: numeric power is costly
        power(10::numeric, decimals) as base_units_per_unit
    from {{ ref('stg_exchange__currencies') }}
),

leaves as (
    select
        balances.business_date,
        balances.user_id,
        balances.currency,
        balances.total,
        balances.locked,
        balances.available,
        trunc(greatest(balances.total, 0) * currencies.base_units_per_unit) as units
    from balances
    inner join currencies on balances.currency = currencies.currency
),

nonces as (
    {%- if var('citus', false) %}
        -- Citus: each shard derives its own users' nonces (eod.por_user_nonces)
        select
            user_id,
            nonce
        from eod.por_user_nonces
        where business_date = {{ business_date }}
    {%- else %}
        select
            user_id,
            nonce
        from eod.por_nonces(
            {{ business_date }}, array(select distinct balances.user_id from balances)
        )
    {%- endif %}
)

select
    leaves.business_date,
    leaves.user_id,
    leaves.currency,
    leaves.total,
    leaves.locked,
    leaves.available,
    eod.por_leaf(nonces.nonce, leaves.user_id, leaves.currency, leaves.units) as leaf_hash
from leaves
inner join nonces on leaves.user_id = nonces.user_id
