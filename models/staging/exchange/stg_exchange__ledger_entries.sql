with

source as (
    select * from {{ source('exchange', 'ledger_entries') }}
),

renamed as (
    select
        -- ids
        entry_id,
        journal_id,
        user_id,

        -- posting
        account,
        account = 'user' as is_user_account,
        currency,
        amount,

        -- provenance
        reference_type,
        reference_id,
        reason,
        created_by,

        -- time
        business_date,
        effective_at
    from source
)

select * from renamed
