with

source as (
    select * from {{ source('operations', 'recon_breaks') }}
),

renamed as (
    select
        -- identity
        break_id,
        check_name,
        user_id,
        currency,
        -- life
        first_date,
        last_date,
        difference,
        status as break_status,
        opened_at,
        resolved_at
    from source
)

select * from renamed
