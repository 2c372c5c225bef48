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
        effective_at,

        -- the transaction that wrote it: what each close could see (eod.close_snapshots)
        tx_id
    from source
)

select * from renamed
