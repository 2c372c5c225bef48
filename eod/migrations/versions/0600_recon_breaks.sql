-- Break records (CONTRACT section 6a). The close's reconcile step opens a break for
-- every (check, user, currency) its checks find, moves last_date and difference on
-- while the same one keeps breaking on consecutive dates, and resolves it (actor
-- `eod`, `cleared by the close of D`) when a close no longer finds it. Operators
-- acknowledge and resolve breaks (eod.breaks.actions); `eod` never does either for them.

create table if not exists eod.recon_breaks (
    break_id bigint generated always as identity primary key,
    check_name text not null,
    user_id bigint null,
    currency text null,
    first_date date not null,
    last_date date not null,
    -- the check's difference on last_date; null when one side was not captured
    difference numeric null,
    status text not null default 'open',
    opened_at timestamptz not null default now(),
    acknowledged_by text null,
    acknowledged_at timestamptz null,
    resolved_by text null,
    resolved_at timestamptz null,
    resolution text null,
    constraint recon_breaks_status check (status in ('open', 'acknowledged', 'resolved')),
    constraint recon_breaks_dates check (last_date >= first_date),
    constraint recon_breaks_acknowledged check (
        (acknowledged_by is null) = (acknowledged_at is null)
        and (status <> 'acknowledged' or acknowledged_by is not null)
    ),
    constraint recon_breaks_resolved check (
        (status = 'resolved')
        = (resolved_by is not null and resolved_at is not null and resolution is not null)
    ),
    -- the close only ever resolves a break it no longer finds, and acknowledges nothing
    constraint recon_breaks_system_actor check (
        acknowledged_by is distinct from 'eod'
        and (resolved_by is distinct from 'eod' or resolution like 'cleared by the close of %')
    )
);

-- At most one unresolved break per (check, user, currency): the one that ages.
create unique index if not exists recon_breaks_unresolved_uidx
    on eod.recon_breaks (check_name, user_id, currency) nulls not distinct
    where status <> 'resolved';
-- A date's breaks (the close, `eod breaks list --date`, the finance mart)
create index if not exists recon_breaks_last_date_idx on eod.recon_breaks (last_date);
create index if not exists recon_breaks_first_date_idx on eod.recon_breaks (first_date);
-- A user's open breaks (a restore is refused while another is open)
create index if not exists recon_breaks_open_user_idx
    on eod.recon_breaks (user_id) where status <> 'resolved' and user_id is not null;

-- Every change of a break: who, when, what, why. Append-only.
create table if not exists eod.recon_break_actions (
    action_id bigint generated always as identity primary key,
    break_id bigint not null references eod.recon_breaks (break_id),
    action text not null,
    actor text not null,
    reason text not null,
    -- the close that acted (opened, aged, cleared); null for an operator's action
    business_date date null,
    difference numeric null,
    -- the account transition a resolution made (a restore), in
    -- exchange.account_state_transitions
    transition_id bigint null,
    occurred_at timestamptz not null default now(),
    constraint recon_break_actions_action check (
        action in ('opened', 'aged', 'acknowledged', 'resolved')
    ),
    constraint recon_break_actions_who_why check (btrim(actor) <> '' and btrim(reason) <> '')
);
create index if not exists recon_break_actions_break_idx on eod.recon_break_actions (break_id);

create or replace function eod.refuse_break_action_change() returns trigger
language plpgsql as $$
begin
    raise exception 'eod.recon_break_actions is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

drop trigger if exists recon_break_actions_append_only on eod.recon_break_actions;
create trigger recon_break_actions_append_only
    before update or delete on eod.recon_break_actions
    for each row execute function eod.refuse_break_action_change();
drop trigger if exists recon_break_actions_no_truncate on eod.recon_break_actions;
create trigger recon_break_actions_no_truncate
    before truncate on eod.recon_break_actions
    for each statement execute function eod.refuse_break_action_change();
