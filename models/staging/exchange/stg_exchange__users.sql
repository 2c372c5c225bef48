with

source as (
    select * from {{ source('exchange', 'users') }}
),

renamed as (
    select
        user_id,
        status::text as account_status,
        created_at
    from source
)

select * from renamed
