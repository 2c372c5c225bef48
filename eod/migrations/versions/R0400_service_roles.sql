-- Repeatable (re-applied when it changes): it grants on functions the repeatable
-- account-state-machine migration (R0100) creates.
-- Least privilege for the close's two services (CONTRACT section 8); finance_reader
-- (0201) and eod_app (the platform services, fsm/sql) exist already. NOLOGIN roles:
-- a deployment grants them to its login roles. Roles are cluster-wide, hence the
-- guarded blocks.
--
-- eod_runner runs the close: it captures into eod.*, builds the marts with dbt (it owns
-- what dbt creates in staging, intermediate, marts, reference, audit), posts journals
-- (INSERT only: the ledger is append-only), freezes users only through
-- transition_account, and stores the proof-of-reserves key it cannot read back.
--
-- eod_admin backs the AdminService: it reads the close's status, moves accounts through
-- transition_account and posts adjustments; it cannot touch captures or marts.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'eod_runner') then
        create role eod_runner nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'eod_admin') then
        create role eod_admin nologin;
    end if;
exception
    when duplicate_object or unique_violation then null;
end
$$;

create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists reference;
create schema if not exists audit;

-- the close runner
grant usage on schema exchange, eod to eod_runner;
grant usage, create on schema staging, intermediate, marts, reference, audit to eod_runner;
grant select on all tables in schema exchange to eod_runner;
alter default privileges in schema exchange grant select on tables to eod_runner;
grant insert on exchange.ledger_entries to eod_runner;
grant select, insert, update, delete on
    eod.me_balances, eod.custody_balances, eod.onchain_staking, eod.eod_runs
    to eod_runner;
grant select, insert, update on eod.leadership to eod_runner;
grant select, insert on eod.outbox to eod_runner;
grant update (published_at) on eod.outbox to eod_runner;
-- the key is replaced (delete + insert); the pads themselves stay unreadable
grant insert, delete on eod.por_key to eod_runner;
grant execute on function exchange.transition_account(bigint, exchange.account_status, text, text)
    to eod_runner;
grant select, insert, delete on all tables in schema audit to eod_runner;
grant execute on function eod.analyze_me_balances() to eod_runner;
-- the proof-of-reserves nonces of the captured users (R0200), never the key itself
grant select on eod.por_user_nonces to eod_runner;
-- break records (opened, aged, cleared by the reconcile step) and the close's seals
grant select, insert, update on eod.recon_breaks to eod_runner;
grant select, insert on eod.recon_break_actions, eod.close_seals to eod_runner;
-- pages wait in their outbox until the pager accepts them (0800)
grant select, insert, update on eod.page_outbox to eod_runner;
-- what each close could see of the ledger and the trades, recorded once per date (0701)
grant select, insert on eod.close_snapshots to eod_runner;

-- the AdminService
grant usage on schema exchange, eod to eod_admin;
grant select on exchange.users, exchange.currencies, exchange.accounts,
    exchange.account_state_transitions to eod_admin;
grant select, insert on exchange.ledger_entries to eod_admin;
grant select on eod.eod_runs to eod_admin;
grant select, insert on eod.outbox to eod_admin;
grant execute on function exchange.transition_account(bigint, exchange.account_status, text, text)
    to eod_admin;
-- A transition is checked against the account's state under a row lock (SELECT ... FOR
-- UPDATE), which needs UPDATE on a column: like eod_app's, the status trigger still
-- refuses any change that is not an allowed transition naming an actor and a reason.
grant update (status) on exchange.users to eod_runner, eod_admin;
-- operators acknowledge and resolve breaks (a restore reads the user's closure requests)
grant select, update on eod.recon_breaks to eod_admin;
grant select, insert on eod.recon_break_actions to eod_admin;
grant select on exchange.closure_requests to eod_admin;
