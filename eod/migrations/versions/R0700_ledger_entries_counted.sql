-- Which ledger entries (and trades) the close of a date counts (CONTRACT section 6,
-- "Late entries"): the one home of those rules. The ledger models, the late entries
-- mart and the seals (eod/seal/canonical.py) read them.

-- The snapshot D's close read the ledger under (0701); for a date no close has read
-- the ledger for yet (a data engineer's build ahead of the close), the ledger as it is.
create or replace function eod.close_snapshot(business_date date) returns pg_snapshot
language sql stable
as $$
    select coalesce(
        (select s.snapshot from eod.close_snapshots as s where s.business_date = $1),
        pg_current_snapshot()
    )
$$;

-- The late entries of D: dated before D, seen by D's snapshot and not by D-1's. Only
-- transactions D-1's snapshot did not see can hold one: tx_id >= its xmin, an index
-- range over about a day of the ledger. The range is planned with its bound known
-- (EXECUTE), never as a guess that could choose to scan the ledger's history; the
-- few rows found are returned as a set. A fee journal is never late: its own date's
-- close counted it, from the fees. With no snapshot recorded for D-1 (D-1 never
-- closed, or D starts the chain) no entry is late: what came before D is the carried
-- balance's business (or, on the chain's first date, the history the close sums).
--
-- Both return their own row types, not the tables': a function typed by a table's row
-- is an object that table's dependents (the views over it) depend on through it, which
-- Citus refuses as a circular dependency when it distributes the table.
do $$
begin
    -- an earlier version returned the tables' row types, which `create or replace`
    -- cannot change
    if exists (
        select 1 from pg_proc
        where oid = to_regprocedure('eod.ledger_entries_late(date)')
          and prorettype = 'exchange.ledger_entries'::regtype
    ) then
        drop function eod.ledger_entries_late(date) cascade;
    end if;
    if exists (
        select 1 from pg_proc
        where oid = to_regprocedure('eod.trades_late(date, timestamptz)')
          and prorettype = 'exchange.trades'::regtype
    ) then
        drop function eod.trades_late(date, timestamptz) cascade;
    end if;
end
$$;

create or replace function eod.ledger_entries_late(for_date date)
returns table (
    entry_id bigint,
    journal_id uuid,
    user_id bigint,
    account text,
    currency text,
    amount numeric(38, 18),
    reference_type text,
    reference_id text,
    reason text,
    business_date date,
    effective_at timestamptz,
    created_by text,
    tx_id xid8
)
rows 100
language plpgsql stable
as $$
declare
    seen_before pg_snapshot;
begin
    select s.snapshot into seen_before
    from eod.close_snapshots as s
    where s.business_date = for_date - 1;
    if seen_before is null then
        return;
    end if;
    return query execute
        'select e.entry_id, e.journal_id, e.user_id, e.account, e.currency, e.amount,
                e.reference_type, e.reference_id, e.reason, e.business_date,
                e.effective_at, e.created_by, e.tx_id
         from exchange.ledger_entries as e
         where e.tx_id >= $1
           and e.business_date < $2
           and e.reference_type <> ''fee_journal''
           and pg_visible_in_snapshot(e.tx_id, $3)
           and not pg_visible_in_snapshot(e.tx_id, $4)'
        using pg_snapshot_xmin(seen_before), for_date, eod.close_snapshot(for_date),
              seen_before;
end
$$;

-- Whether an entry dated D is counted by D's close on time: when D's snapshot saw it,
-- and D's fee journal always (the close counts it from the fees, posted or not, and
-- posts it after reading the ledger). The callers read the entries dated D through the
-- business_date index and add eod.ledger_entries_late(D): the ledger models
-- (macros/ledger_entries_counted.sql) and the seal (eod/seal/canonical.py). Not one
-- set-returning SQL function: Citus plans no SQL function that reads a distributed
-- table, and a PL/pgSQL one would hold a day's millions of legs in a tuplestore.
create or replace function eod.is_counted_on_time(
    reference_type text, tx_id xid8, seen pg_snapshot
) returns boolean
language sql immutable
as $$
    select $1 = 'fee_journal' or pg_visible_in_snapshot($2, $3)
$$;

-- The late trades of D: executed before D's window (which starts at day_start),
-- seen by D's snapshot and not by D-1's; found as the late ledger entries are. D's
-- close counts them as D's (fees, volume, and the cost fold after D-1's positions).
create or replace function eod.trades_late(for_date date, day_start timestamptz)
returns table (trade_id bigint)
rows 100
language plpgsql stable
as $$
declare
    seen_before pg_snapshot;
begin
    select s.snapshot into seen_before
    from eod.close_snapshots as s
    where s.business_date = for_date - 1;
    if seen_before is null then
        return;
    end if;
    return query execute
        'select t.trade_id from exchange.trades as t
         where t.tx_id >= $1
           and t.executed_at < $2
           and pg_visible_in_snapshot(t.tx_id, $3)
           and not pg_visible_in_snapshot(t.tx_id, $4)'
        using pg_snapshot_xmin(seen_before), day_start,
              eod.close_snapshot(for_date), seen_before;
end
$$;
