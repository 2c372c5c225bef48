with

source as (
    select * from {{ source('exchange', 'staking_positions') }}
),

renamed as (
    select
        position_id,
        user_id,
        amount as stake_amount,
        staked_at,
        unstaked_at
    from source
)

select * from renamed
