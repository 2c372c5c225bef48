with

source as (
    select * from {{ source('capture', 'onchain_staking') }}
),

renamed as (
    select
        business_date,
        total_staked_units,
        -- QTRA has 18 decimals on chain
        total_staked_units / power(10::numeric, 18) as total_staked,
        captured_at
    from source
)

select * from renamed
