-- Every journal sums to zero per currency, at commit (CONTRACT section 4): a platform
-- may write a journal leg by leg, in several statements of one transaction. This is
-- the one home of the rule; the Citus layout (eod.citus.layout) only attaches it
-- differently in the shards.
--
-- Every entry carries the id of the transaction that wrote it (tx_id, the column's
-- default; a writer never sets it). Committed journals balance (each transaction
-- checked its own legs), so a transaction keeps every journal balanced exactly when
-- the legs it wrote sum to zero per (journal, currency). That is what is checked, at
-- commit, by a deferred constraint trigger: its first firing sums all of the
-- transaction's legs at once (through the tx_id index) and notes the highest entry_id
-- it covered; the later firings for legs already covered return at once. A leg written
-- after a check (SET CONSTRAINTS ... IMMEDIATE mid-transaction) has a higher id and is
-- checked again at commit.
--
-- A writer that inserts whole journals in each statement (the close's postings) may
-- say so with `set local exchange.journals_whole_per_statement = on`: its legs are not
-- queued for the check at commit (the trigger's WHEN), and each of its statements must
-- then balance every journal it touches (the statement trigger, one aggregate over the
-- statement's rows). The setting never skips the rule: balanced statements add up to
-- a balanced transaction.
--
-- tx_id is also what each close's snapshot is compared with to know which entries it
-- could see (0701). Rows already in the ledger get this migration's transaction id (a
-- stable default, stored once without rewriting the table): they were all committed
-- before it.

alter table exchange.ledger_entries
    add column if not exists tx_id xid8 not null default pg_current_xact_id();

-- a transaction's legs (this check), and the entries written since a close's snapshot
-- (late entries, 0701): one transaction's rows share a key, appended at the index's end
create index if not exists ledger_entries_tx_id_idx on exchange.ledger_entries (tx_id);

create or replace function exchange.check_journals_balance() returns trigger
language plpgsql as $$
declare
    unbalanced record;
begin
    if current_setting('exchange.journals_whole_per_statement', true) is distinct from 'on' then
        return null;  -- checked at commit, with the transaction's other legs
    end if;
    if exists (select 1 from new_rows where tx_id <> pg_current_xact_id()) then
        raise exception 'exchange.ledger_entries.tx_id is set by the ledger, not by its writers'
            using errcode = 'check_violation';
    end if;
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

-- In a Citus shard the table is the shard itself (TG_TABLE_NAME) and the transaction
-- ids are the worker's, not the coordinator's that tx_id holds: there the leg's
-- journal is summed in the shard (all its legs are there), through the journal_id
-- index the Citus layout creates. By the table's name it would be a distributed query
-- from a shard, which Citus refuses.
create or replace function exchange.check_journal_balanced_at_commit() returns trigger
language plpgsql as $$
declare
    unbalanced record;
    checked_through bigint;
begin
    if tg_table_schema <> 'exchange' or tg_table_name <> 'ledger_entries' then
        execute format(
            'select journal_id, currency, sum(amount) as total from %I.%I '
            'where journal_id = $1 group by journal_id, currency having sum(amount) <> 0 '
            'limit 1',
            tg_table_schema, tg_table_name
        ) into unbalanced using new.journal_id;
    else
        if new.tx_id <> pg_current_xact_id() then
            raise exception 'exchange.ledger_entries.tx_id is set by the ledger, not by its writers'
                using errcode = 'check_violation';
        end if;
        checked_through := nullif(
            current_setting('exchange.journals_checked_through', true), ''
        )::bigint;
        if new.entry_id <= checked_through then
            return null;  -- covered by this transaction's check already
        end if;
        select journal_id, currency, sum(amount) as total
        into unbalanced
        from exchange.ledger_entries
        where tx_id = pg_current_xact_id()
        group by journal_id, currency
        having sum(amount) <> 0
        limit 1;
        perform set_config(
            'exchange.journals_checked_through',
            (select max(entry_id) from exchange.ledger_entries
             where tx_id = pg_current_xact_id())::text,
            true
        );
    end if;
    if unbalanced.journal_id is not null then
        raise exception 'journal % does not sum to zero in % (sum %)',
            unbalanced.journal_id, unbalanced.currency, unbalanced.total
            using errcode = 'check_violation';
    end if;
    return null;
end
$$;

drop trigger if exists ledger_entries_balanced_at_commit on exchange.ledger_entries;
create constraint trigger ledger_entries_balanced_at_commit
    after insert on exchange.ledger_entries
    deferrable initially deferred
    for each row
    when (current_setting('exchange.journals_whole_per_statement', true) is distinct from 'on')
    execute function exchange.check_journal_balanced_at_commit();

-- 0004's statement trigger stays attached (ledger_entries_balanced), now checking only
-- the statements of writers that declared whole journals.
