-- Sealed closes (CONTRACT section 6a). The close of D writes its seal in its last
-- step's transaction: seal_hash = SHA256("seal|D|prev_seal_hash|por_digest|marts_digest|
-- ledger_digest"), prev_seal_hash the seal of the date before (64 zeros at the chain's
-- first date). The digests' canonical text is described in the README and in
-- eod/seal/canonical.py. Seals are never rewritten: the table is append-only, and
-- `eod seal verify` recomputes them from each date's rows.

create table if not exists eod.close_seals (
    business_date date primary key,
    seal_hash text not null unique,
    prev_seal_hash text not null,
    por_digest text not null,
    marts_digest text not null,
    ledger_digest text not null,
    sealed_at timestamptz not null default now(),
    constraint close_seals_hex check (
        seal_hash ~ '^[0-9a-f]{64}$'
        and prev_seal_hash ~ '^[0-9a-f]{64}$'
        and por_digest ~ '^[0-9a-f]{64}$'
        and marts_digest ~ '^[0-9a-f]{64}$'
        and ledger_digest ~ '^[0-9a-f]{64}$'
    )
);

create or replace function eod.refuse_seal_change() returns trigger
language plpgsql as $$
begin
    raise exception 'eod.close_seals is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

drop trigger if exists close_seals_append_only on eod.close_seals;
create trigger close_seals_append_only
    before update or delete on eod.close_seals
    for each row execute function eod.refuse_seal_change();
drop trigger if exists close_seals_no_truncate on eod.close_seals;
create trigger close_seals_no_truncate
    before truncate on eod.close_seals
    for each statement execute function eod.refuse_seal_change();
