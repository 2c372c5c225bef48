-- Leader election with fencing (CONTRACT section 8). The advisory lock elects the
-- leader; every election bumps the fencing token here, and every step commit checks
-- that its token is still the current one, so a leader that lost its lock cannot write.
create table if not exists eod.leadership (
    lock_name text primary key,
    fencing_token bigint not null,
    holder text not null,
    elected_at timestamptz not null default now()
);

-- Postings of the close are idempotent: one row per (reference, account, currency,
-- user) for the reference types the close and the admins post. A re-run inserts with
-- ON CONFLICT DO NOTHING and adds nothing.
create unique index if not exists ledger_entries_posting_uidx
    on exchange.ledger_entries (reference_type, reference_id, account, currency, coalesce(user_id, -1))
    where reference_type in ('fee_journal', 'staking_payout');

-- Every journal sums to zero per currency. Checked per statement over the rows the
-- statement inserted, so every writer must insert a journal whole in one statement.
create or replace function exchange.check_journals_balance() returns trigger
language plpgsql as $$
declare
    unbalanced record;
begin
    select journal_id, currency, sum(amount) as total
    into unbalanced
    from new_rows
    group by journal_id, currency
    having sum(amount) <> 0
    limit 1;
    if found then
        raise exception 'journal % does not sum to zero in % (sum %)',
            unbalanced.journal_id, unbalanced.currency, unbalanced.total
            using errcode = 'check_violation';
    end if;
    return null;
end
$$;

drop trigger if exists ledger_entries_balanced on exchange.ledger_entries;
create trigger ledger_entries_balanced
    after insert on exchange.ledger_entries
    referencing new table as new_rows
    for each statement execute function exchange.check_journals_balance();

-- The ledger is append-only: a correction is a new journal, never an edit.
create or replace function exchange.refuse_ledger_change() returns trigger
language plpgsql as $$
begin
    raise exception 'exchange.ledger_entries is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

drop trigger if exists ledger_entries_append_only on exchange.ledger_entries;
create trigger ledger_entries_append_only
    before update or delete on exchange.ledger_entries
    for each row execute function exchange.refuse_ledger_change();
