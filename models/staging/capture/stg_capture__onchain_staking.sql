with

source as (
    select * from {{ source('capture', 'onchain_staking') }}
),

renamed as (
    select
        business_date,
        total_staked_units,
        -- QTRA has 18 decimals on chain; the dividend carries 18 decimals so that the
        -- quotient keeps every base unit
        total_staked_units::numeric(78, 18) / power(10::numeric, 18) as total_staked,
        captured_at
    from source
)

select * from renamed
