with

source as (
    select * from {{ source('exchange', 'currencies') }}
),

renamed as (
    select
        currency,
        decimals,
        custody_tolerance
    from source
)

select * from renamed
