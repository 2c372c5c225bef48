-- What each close could see of the ledger (CONTRACT section 6, "Late entries").
--
-- entry_id is handed out when a row is inserted, not when it commits: a transaction
-- can commit an entry with a smaller id after a close read a larger one. So the close
-- records the ledger's visibility itself: every entry carries the id of the
-- transaction that wrote it (tx_id, 0700), and each close records, once per date,
-- the snapshot it read the ledger under. An entry is seen by
-- D's close when its transaction is visible in D's snapshot (pg_visible_in_snapshot);
-- an entry dated on or before D-1 that D's snapshot sees and D-1's did not is a late
-- entry, counted by D (R0700_ledger_entries_counted.sql). Snapshots only grow from one
-- close to the next, so every entry is counted by exactly one close.

create table if not exists eod.close_snapshots (
    business_date date primary key,
    snapshot pg_snapshot not null,
    taken_at timestamptz not null default now()
);

comment on table eod.close_snapshots is
'The snapshot under which the close of each date read the ledger: taken once, when the close first reads it, and kept on re-runs, so that a rebuild of the date counts the same entries.';

-- Dates closed before this migration read the ledger with no snapshot recorded: they
-- are taken to have seen everything committed by now (the entries they could not
-- see are beyond recovery; the closes from here on find every late entry).
insert into eod.close_snapshots (business_date, snapshot)
select runs.business_date, pg_current_snapshot()
from eod.eod_runs as runs
where runs.step_name = 'close' and runs.status = 'succeeded'
on conflict (business_date) do nothing;

-- a recorded snapshot is never changed: what D's close counted stays what it counted
create or replace function eod.refuse_close_snapshot_change() returns trigger
language plpgsql as $$
begin
    raise exception 'eod.close_snapshots is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

drop trigger if exists close_snapshots_append_only on eod.close_snapshots;
create trigger close_snapshots_append_only
    before update or delete on eod.close_snapshots
    for each row execute function eod.refuse_close_snapshot_change();
