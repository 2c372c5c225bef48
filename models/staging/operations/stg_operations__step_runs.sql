with

source as (
    select * from {{ source('operations', 'eod_runs') }}
),

renamed as (
    select
        business_date,
        step_name,
        status as step_status,
        started_at,
        finished_at
    from source
)

select * from renamed
