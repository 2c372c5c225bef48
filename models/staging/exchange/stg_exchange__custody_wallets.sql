with

source as (
    select * from {{ source('exchange', 'custody_wallets') }}
),

renamed as (
    select
        currency,
        coin,
        wallet_id
    from source
)

select * from renamed
