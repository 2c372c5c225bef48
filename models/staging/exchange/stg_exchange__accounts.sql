with

source as (
    select * from {{ source('exchange', 'accounts') }}
),

renamed as (
    select
        user_id,
        currency,
        created_at
    from source
)

select * from renamed
