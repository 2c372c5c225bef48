-- The fencing check (CONTRACT section 8) as one SQL function, so that every writer
-- calls the same rule inside its own transaction: the close's Python transactions
-- (eod.close.leader.check_fence) and each dbt model's pre-hook (macros/check_fence.sql).
-- FOR SHARE makes a concurrent election wait until the checking transaction ends, so
-- the check and the writes it guards are atomic with respect to elections. A stale
-- token raises SQLSTATE EOD01 with a message naming the current leader.
create or replace function eod.check_fence(token bigint) returns void
language plpgsql as $$
declare
    current_token bigint;
    current_holder text;
begin
    select fencing_token, holder into current_token, current_holder
    from eod.leadership
    where lock_name = 'eod-close'
    for share;
    if current_token is distinct from token then
        raise exception 'fencing token % is stale (%); this close lost the lock', token,
            coalesce('token ' || current_token || ' held by ' || current_holder, 'no leader')
            using errcode = 'EOD01';
    end if;
end
$$;
