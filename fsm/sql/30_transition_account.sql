-- exchange.transition_account(user_id, to_state, actor, reason) -> transition_id:
-- the way in. It locks the user's row, so two transitions of one account serialise
-- and each is checked against the state it actually finds; the rule, guards, audit
-- and event are the status trigger's, reached through an UPDATE that carries the
-- actor and reason in the transaction-local settings eod.actor and eod.reason (put
-- back as they were afterwards, so they do not leak into later statements).

create or replace function exchange.transition_account(
    p_user_id bigint,
    p_to_state exchange.account_status,
    p_actor text,
    p_reason text
) returns bigint
language plpgsql
security definer
set search_path = pg_catalog, exchange
as $$
declare
    v_current exchange.account_status;
    v_saved_actor text := coalesce(current_setting('eod.actor', true), '');
    v_saved_reason text := coalesce(current_setting('eod.reason', true), '');
    v_id bigint;
begin
    if nullif(btrim(p_actor), '') is null then
        raise exception 'a transition needs an actor' using errcode = 'check_violation';
    end if;
    if nullif(btrim(p_reason), '') is null then
        raise exception 'a transition needs a reason' using errcode = 'check_violation';
    end if;
    if p_to_state is null then
        raise exception 'a transition needs a target state' using errcode = 'check_violation';
    end if;
    select status into v_current from exchange.users where user_id = p_user_id for update;
    if not found then
        raise exception 'unknown user %', p_user_id using errcode = 'no_data_found';
    end if;
    if v_current = p_to_state then
        raise exception 'account % is already %', p_user_id, v_current
            using errcode = 'check_violation';
    end if;
    perform set_config('eod.actor', btrim(p_actor), true);
    perform set_config('eod.reason', btrim(p_reason), true);
    update exchange.users set status = p_to_state where user_id = p_user_id;
    v_id := current_setting('eod.transition_id')::bigint;
    perform set_config('eod.actor', v_saved_actor, true);
    perform set_config('eod.reason', v_saved_reason, true);
    return v_id;
end
$$;
