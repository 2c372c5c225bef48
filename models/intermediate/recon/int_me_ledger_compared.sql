-- depends_on: {{ ref('int_business_dates_windowed') }}
{# Every (user, currency) on either side of the engine/ledger reconciliation at the
    end of D: the matching engine's captured total against the ledger balance, a side
    that has no row counting as 0.

    The ledger balance is counted as the reconciliations count it: the `user` entries
    with business_date <= D that D's close can see, with D's fee journal counted once
    (its user legs, -total_fees of fct_daily_fees, whether or not it is posted yet). It
    is carried: D-1's ledger_total of this model plus the net movements D's close
    counts (int_ledger_movements_daily: the entries dated D its snapshot saw, and the
    late entries dated earlier that D-1's close could not see, so each entry is counted
    once, by the close that finds it) plus D's fee journal; only the first date of the close chain sums the ledger's
    history. The balances and the comparison are one model so that the day's millions
    of balances are written once. The three parts hold one row per (user, currency)
    each, so they are joined rather than grouped; on Citus (the var `citus`) they are
    stacked and summed per user instead, which runs inside each shard. -#}
{%- set business_date = business_date_literal(var('business_date', none)) -%}
{%- set first = is_first_close() -%}

with

engine as (
    select
        user_id,
        currency,
        total
    from {{ ref('stg_capture__me_balances') }}
    where business_date = {{ business_date }}
),

daily_movements as (
    select
        user_id,
        currency,
        movement
    from {{ ref('int_ledger_movements_daily') }}
),

fee_journal as (
    select
        user_id,
        currency,
        -total_fees as amount
    from {{ ref('fct_daily_fees') }}
    where business_date = {{ business_date }} and total_fees <> 0
),

carried as (
    {%- if first %}
        select
            null::bigint as user_id,
            null::text as currency,
            null::numeric as ledger_total
        where false
    {%- else %}
        select
            user_id,
            currency,
            ledger_total
        from {{ this }}
        where business_date = {{ business_date }} - 1 and ledger_total <> 0
    {%- endif %}
),

ledger as (
    {%- if var('citus', false) %}
        -- Citus: the parts stacked and summed per user, inside each shard (a chain of
        -- full joins on coalesced keys cannot run shard by shard)
        select
            user_id,
            currency,
            sum(amount) as ledger_total
        from (
            select
                user_id,
                currency,
                ledger_total as amount
            from carried
            union all
            select
                user_id,
                currency,
                movement
            from daily_movements
            union all
            select
                user_id,
                currency,
                amount
            from fee_journal
        ) as parts
        group by user_id, currency
    {%- else %}
        -- each part holds one row per (user, currency): joined rather than grouped
        select
            coalesce(carried.user_id, daily_movements.user_id, fee_journal.user_id) as user_id,
            coalesce(carried.currency, daily_movements.currency, fee_journal.currency) as currency,
            coalesce(carried.ledger_total, 0)
            + coalesce(daily_movements.movement, 0)
            + coalesce(fee_journal.amount, 0) as ledger_total
        from carried
        full outer join daily_movements
            on carried.user_id = daily_movements.user_id and carried.currency = daily_movements.currency
        full outer join fee_journal
            on
                coalesce(carried.user_id, daily_movements.user_id) = fee_journal.user_id
                and coalesce(carried.currency, daily_movements.currency) = fee_journal.currency
    {%- endif %}
)

select
    {{ business_date }} as business_date,
    coalesce(engine.user_id, ledger.user_id) as user_id,
    coalesce(engine.currency, ledger.currency) as currency,
    coalesce(engine.total, 0) as me_total,
    coalesce(ledger.ledger_total, 0) as ledger_total
from engine
full outer join ledger
    on engine.user_id = ledger.user_id and engine.currency = ledger.currency
-- a pair that is zero on both sides (a balance moved back to zero) is not an item
where engine.user_id is not null or ledger.ledger_total <> 0
