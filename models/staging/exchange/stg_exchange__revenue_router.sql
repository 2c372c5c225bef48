with

source as (
    select * from {{ source('exchange', 'revenue_router') }}
),

renamed as (
    select
        business_date,
        staking_share,
        status as router_status
    from source
)

select * from renamed
