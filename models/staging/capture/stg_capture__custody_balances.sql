with

source as (
    select * from {{ source('capture', 'custody_balances') }}
),

currencies as (
    select * from {{ ref('stg_exchange__currencies') }}
),

renamed as (
    select
        source.business_date,
        source.currency,
        source.coin,
        source.wallet_id,
        source.balance_units,
        -- base units to currency units, exactly: the dividend carries 18 decimals so the
        -- quotient keeps every base unit (numeric division keeps the larger scale)
        source.balance_units::numeric(78, 18) / power(10::numeric, currencies.decimals) as balance,
        source.captured_at
    from source
    inner join currencies on source.currency = currencies.currency
)

select * from renamed
