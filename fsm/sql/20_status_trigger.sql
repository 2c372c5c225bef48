-- Every change of exchange.users.status goes through the machine, whatever the path:
-- exchange.transition_account(...) or a raw UPDATE. A raw UPDATE names its actor and
-- reason in two transaction-local settings:
--
--     begin;
--     set local eod.actor = 'alice';
--     set local eod.reason = 'KYC documents verified';
--     update exchange.users set status = 'kyc_approved' where user_id = 42;
--     commit;
--
-- The trigger refuses a change that is not an allowed transition (table
-- exchange.account_transition_rules, derived from the seeds), that names no actor or
-- reason, or whose guard fails; otherwise it appends the audit row and writes the
-- event into eod.outbox in the same transaction. SECURITY DEFINER: it writes the
-- audit and the outbox for callers that may not write them directly.

create or replace function exchange.enforce_account_transition() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, exchange, eod
as $$
declare
    v_actor text := nullif(btrim(current_setting('eod.actor', true)), '');
    v_reason text := nullif(btrim(current_setting('eod.reason', true)), '');
    v_rule exchange.account_transition_rules%rowtype;
    v_state exchange.account_states%rowtype;
    v_audit exchange.account_state_transitions%rowtype;
    v_nonzero text;
    v_event_id uuid := gen_random_uuid();
begin
    if new.user_id is distinct from old.user_id then
        raise exception 'exchange.users.user_id cannot change (% -> %)', old.user_id, new.user_id
            using errcode = 'integrity_constraint_violation';
    end if;
    if new.status is not distinct from old.status then
        return null;
    end if;
    if v_actor is null or v_reason is null then
        raise exception 'account % status change % -> % needs an actor and a reason (set local eod.actor and eod.reason, or call exchange.transition_account)',
            old.user_id, old.status, new.status
            using errcode = 'check_violation';
    end if;
    select * into v_state from exchange.account_states where state = old.status;
    if v_state.is_terminal then
        raise exception 'account % is % (terminal): % -> % refused',
            old.user_id, old.status, old.status, new.status
            using errcode = 'check_violation';
    end if;
    select * into v_rule
    from exchange.account_transition_rules
    where from_state = old.status and to_state = new.status;
    if not found then
        raise exception 'account %: transition % -> % is not allowed', old.user_id, old.status, new.status
            using errcode = 'check_violation';
    end if;
    if v_rule.guard = 'zero_balances' then
        select string_agg(currency || ' ' || balance::text, ', ' order by currency) into v_nonzero
        from (
            select currency, sum(amount) as balance
            from exchange.ledger_entries
            where user_id = old.user_id and account = 'user'
            group by currency
            having sum(amount) <> 0
        ) as balances;
        if v_nonzero is not null then
            raise exception 'account %: % -> % needs every balance at zero (%)',
                old.user_id, old.status, new.status, v_nonzero
                using errcode = 'check_violation';
        end if;
    elsif v_rule.guard = 'human_actor' and v_actor = 'eod' then
        raise exception 'account %: % -> % needs a human actor, not ''eod''',
            old.user_id, old.status, new.status
            using errcode = 'check_violation';
    end if;

    insert into exchange.account_state_transitions (user_id, from_state, to_state, actor, reason)
    values (old.user_id, old.status, new.status, v_actor, v_reason)
    returning * into v_audit;

    select * into v_state from exchange.account_states where state = new.status;
    insert into eod.outbox (event_id, subject, payload)
    values (
        v_event_id,
        v_rule.subject,
        jsonb_build_object(
            'event_id', v_event_id,
            'transition_id', v_audit.transition_id,
            'user_id', v_audit.user_id,
            'from_state', v_audit.from_state,
            'to_state', v_audit.to_state,
            'actor', v_audit.actor,
            'reason', v_audit.reason,
            'occurred_at',
            to_char(v_audit.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'can_trade', v_state.can_trade,
            'can_withdraw', v_state.can_withdraw
        )
    );
    -- transition_account returns the id it caused.
    perform set_config('eod.transition_id', v_audit.transition_id::text, true);
    return null;
end
$$;

drop trigger if exists users_status_machine on exchange.users;
create trigger users_status_machine
    after update on exchange.users
    for each row execute function exchange.enforce_account_transition();
-- ENABLE ALWAYS: session_replication_role = replica does not switch it off.
alter table exchange.users enable always trigger users_status_machine;
