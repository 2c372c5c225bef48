with

source as (
    select * from {{ source('exchange', 'trades') }}
),

renamed as (
    select
        -- ids
        trade_id,
        maker_user_id,
        taker_user_id,

        -- instrument
        base,
        quote,

        -- execution
        taker_side,
        case taker_side when 'buy' then 'sell' else 'buy' end as maker_side,
        price,
        qty,
        price * qty as quote_amount,

        -- fees, taken by the matching engine in real time
        maker_fee,
        taker_fee,
        fee_currency,

        executed_at,

        -- the transaction that wrote it: what each close could see (eod.close_snapshots)
        tx_id
    from source
)

select * from renamed
