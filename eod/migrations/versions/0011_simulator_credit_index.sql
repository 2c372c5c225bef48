-- The simulated engine and custody add what the close credited users after the
-- registry was generated (staking payouts, admin adjustments) on every request. Those
-- are few rows among millions of trade legs: a partial index finds them without
-- scanning the ledger, and costs the bulk loads nothing.
create index if not exists ledger_entries_engine_credits_idx
    on exchange.ledger_entries (currency, effective_at)
    where account = 'user' and reference_type in ('staking_payout', 'admin_adjustment');
