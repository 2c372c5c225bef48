-- The close analyses a capture it has just landed, in the landing's transaction, so
-- that the models reading D's millions of rows next are planned for millions, not for
-- the few thousand stale statistics promise. ANALYZE needs the table's owner: the
-- close's role (eod_runner) runs it through this function instead of owning the table.
create or replace function eod.analyze_me_balances()
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    analyze eod.me_balances;
end
$$;
revoke all on function eod.analyze_me_balances() from public;
