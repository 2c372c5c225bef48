with

source as (
    select * from {{ source('exchange', 'mark_prices') }}
),

renamed as (
    select
        currency,
        price as mark_price,
        as_of
    from source
)

select * from renamed
