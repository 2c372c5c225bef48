-- The application role: what the exchange's services connect as (NOLOGIN here; a
-- deployment grants it to its login roles). It may read, call transition_account,
-- and change a status only through the trigger. It owns nothing, so it cannot
-- alter or disable triggers, and session_replication_role is superuser-only.
-- Roles are cluster-wide: the guarded block lets many databases on one server
-- (and concurrent migrators) create it once.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'eod_app') then
        create role eod_app nologin;
    end if;
exception
    when duplicate_object or unique_violation then null;
end
$$;

grant usage on schema exchange, eod to eod_app;
grant select on all tables in schema exchange to eod_app;
-- Platform tables the migrating role creates later are readable too.
alter default privileges in schema exchange grant select on tables to eod_app;
grant update (status) on exchange.users to eod_app;
grant select, insert on eod.outbox to eod_app;
grant update (published_at) on eod.outbox to eod_app;

revoke all on exchange.account_state_transitions from public;
revoke insert, update, delete, truncate on exchange.account_state_transitions from eod_app;
grant select on exchange.account_state_transitions to eod_app;

revoke all on function exchange.transition_account(bigint, exchange.account_status, text, text)
    from public;
grant execute on function exchange.transition_account(bigint, exchange.account_status, text, text)
    to eod_app;
revoke all on function exchange.enforce_account_transition() from public;
