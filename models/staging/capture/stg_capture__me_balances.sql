with

source as (
    select * from {{ source('capture', 'me_balances') }}
),

renamed as (
    select
        business_date,
        user_id,
        currency,
        total,
        locked,
        available,
        as_of as snapshot_at,
        sequence as engine_sequence
    from source
)

select * from renamed
