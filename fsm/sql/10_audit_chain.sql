-- The audit trail of account-state transitions: append-only and hash-chained.
--
-- hash = sha256(prev_hash || canonical content), lowercase hex; the first row's
-- prev_hash is 64 zeros. The canonical content is each field as
-- "<length in characters>:<text>;" in this order: transition_id, user_id, from_state,
-- to_state, actor, reason, occurred_at (UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ). Length
-- prefixes keep a '|' or ';' inside a reason from making two rows hash alike.
-- `eod account verify-audit` recomputes the same in Python.

create or replace function exchange.account_transition_hash(
    p_prev_hash text,
    p_transition_id bigint,
    p_user_id bigint,
    p_from_state text,
    p_to_state text,
    p_actor text,
    p_reason text,
    p_occurred_at timestamptz
) returns text
language sql immutable strict
as $$
    select encode(sha256(convert_to(
        p_prev_hash
        || (select string_agg(length(f) || ':' || f || ';', '' order by n)
            from unnest(array[
                p_transition_id::text,
                p_user_id::text,
                p_from_state,
                p_to_state,
                p_actor,
                p_reason,
                to_char(p_occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            ]) with ordinality as fields (f, n)),
        'UTF8')), 'hex')
$$;

-- Rows enter only from the transition trigger on exchange.users (trigger depth > 1),
-- never by a direct INSERT, whoever the role. The chain lock serialises writers
-- until commit, and the id is drawn after it, so the chain cannot fork and ids
-- follow it. The previous row is read with a fresh snapshot, which only READ
-- COMMITTED gives; a stricter isolation level would read a stale head, so it is refused.
create or replace function exchange.chain_account_transition() returns trigger
language plpgsql
set search_path = pg_catalog, exchange
as $$
declare
    previous text;
begin
    if pg_trigger_depth() < 2 then
        raise exception 'exchange.account_state_transitions is written only by account transitions'
            using errcode = 'insufficient_privilege';
    end if;
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'account transitions run at READ COMMITTED, not %',
            current_setting('transaction_isolation')
            using errcode = 'invalid_transaction_state';
    end if;
    perform pg_advisory_xact_lock(hashtext('exchange.account_state_transitions'));
    select t.hash into previous
    from exchange.account_state_transitions as t
    order by t.transition_id desc
    limit 1;
    new.prev_hash := coalesce(previous, repeat('0', 64));
    new.transition_id := nextval('exchange.account_state_transitions_id_seq');
    new.occurred_at := clock_timestamp();
    new.hash := exchange.account_transition_hash(
        new.prev_hash, new.transition_id, new.user_id, new.from_state::text,
        new.to_state::text, new.actor, new.reason, new.occurred_at
    );
    return new;
end
$$;

create or replace function exchange.refuse_audit_change() returns trigger
language plpgsql
as $$
begin
    raise exception 'exchange.account_state_transitions is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

drop trigger if exists account_state_transitions_chain on exchange.account_state_transitions;
create trigger account_state_transitions_chain
    before insert on exchange.account_state_transitions
    for each row execute function exchange.chain_account_transition();

drop trigger if exists account_state_transitions_no_change on exchange.account_state_transitions;
create trigger account_state_transitions_no_change
    before update or delete on exchange.account_state_transitions
    for each row execute function exchange.refuse_audit_change();

drop trigger if exists account_state_transitions_no_truncate
    on exchange.account_state_transitions;
create trigger account_state_transitions_no_truncate
    before truncate on exchange.account_state_transitions
    for each statement execute function exchange.refuse_audit_change();

-- ENABLE ALWAYS: these fire under session_replication_role = replica too.
alter table exchange.account_state_transitions
    enable always trigger account_state_transitions_chain;
alter table exchange.account_state_transitions
    enable always trigger account_state_transitions_no_change;
alter table exchange.account_state_transitions
    enable always trigger account_state_transitions_no_truncate;
