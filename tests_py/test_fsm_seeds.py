"""The seeds, the Python machine and the database's rule tables say the same thing,
and that thing is CONTRACT section 9."""

from __future__ import annotations

import importlib.util
from decimal import Decimal

import psycopg2
import pytest

from eod.migrations import VERSIONS_DIR, migrate
from fsm.machine import MACHINE, Guard, State, TransitionContext, TransitionRefused
from fsm.seeds import load_states, load_transitions
from tests_py.accounts_fixtures import (
    ALLOWED,
    CONTRACT_STATES,
    expected_subject,
    fetch,
)


def test_seeds_match_the_contract():
    states = {s.state: (s.can_trade, s.can_withdraw) for s in load_states()}
    assert states == CONTRACT_STATES
    terminal = {s.state for s in load_states() if s.is_terminal}
    assert terminal == {"closed", "banned"}
    rows = load_transitions()
    assert sorted((t.from_state, t.to_state) for t in rows) == sorted(ALLOWED)
    for t in rows:
        assert t.subject == expected_subject(t.from_state, t.to_state)
        want_guard = (
            "zero_balances"
            if t.to_state == "closed"
            else "human_actor"
            if t.subject == "account.restored"
            else None
        )
        assert t.guard == want_guard, (t.from_state, t.to_state)


def test_python_machine_matches_the_seeds():
    assert [s.value for s in State] == list(CONTRACT_STATES)
    machine = {
        (t.source.value, t.target.value): (t.subject, t.guard.value if t.guard else None)
        for t in MACHINE.transitions.values()
    }
    seeds = {(t.from_state, t.to_state): (t.subject, t.guard) for t in load_transitions()}
    assert machine == seeds
    for state, (trade, withdraw) in CONTRACT_STATES.items():
        assert MACHINE.can_trade(State(state)) is trade
        assert MACHINE.can_withdraw(State(state)) is withdraw


def test_database_tables_match_the_seeds(db_url):
    db_states = fetch(
        db_url,
        "select state::text, can_trade, can_withdraw, is_terminal from exchange.account_states",
    )
    assert {r[0]: r[1:] for r in db_states} == {
        s.state: (s.can_trade, s.can_withdraw, s.is_terminal) for s in load_states()
    }
    db_rules = fetch(
        db_url,
        "select from_state::text, to_state::text, subject, guard"
        " from exchange.account_transition_rules",
    )
    assert sorted(db_rules) == sorted(
        (t.from_state, t.to_state, t.subject, t.guard) for t in load_transitions()
    )
    enum = fetch(db_url, "select unnest(enum_range(null::exchange.account_status))::text")
    assert {r[0] for r in enum} == set(CONTRACT_STATES)


def ctx(actor="alice", reason="checked", **balances):
    return TransitionContext(actor, reason, {c: Decimal(v) for c, v in balances.items()})


def test_machine_refusals():
    with pytest.raises(TransitionRefused, match="terminal"):
        MACHINE.check(State.closed, State.active, ctx())
    with pytest.raises(TransitionRefused, match="not allowed"):
        MACHINE.check(State.pending_kyc, State.active, ctx())
    with pytest.raises(TransitionRefused, match="actor and a reason"):
        MACHINE.check(State.active, State.suspended, ctx(reason=" "))
    with pytest.raises(TransitionRefused, match="balances are not zero"):
        MACHINE.check(State.active, State.closed, ctx(BTC="0.1", ETH="0"))
    with pytest.raises(TransitionRefused, match="human actor"):
        MACHINE.check(State.suspended, State.active, ctx(actor="eod"))
    assert MACHINE.check(State.active, State.closed, ctx(BTC="0")).guard is Guard.ZERO_BALANCES
    assert MACHINE.check(State.suspended, State.active, ctx()).subject == "account.restored"
    assert sorted(s.value for s in MACHINE.targets(State.active)) == sorted(
        ["suspended", "restricted", "closed", "banned"]
    )


def test_migrating_again_changes_nothing_and_reapplying_the_machine_is_safe(db_url):
    assert migrate(db_url) == []
    path = VERSIONS_DIR / "R0100_account_state_machine.py"
    spec = importlib.util.spec_from_file_location("r0100", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:  # as after a seed change: the whole file again
            module.apply(cur)
            module.apply(cur)
    finally:
        conn.close()
    rules = fetch(db_url, "select count(*) from exchange.account_transition_rules")
    assert rules == [(len(ALLOWED),)]
    triggers = fetch(
        db_url,
        """select tgname, tgenabled from pg_trigger
           where tgrelid in ('exchange.users'::regclass,
                             'exchange.account_state_transitions'::regclass)
             and not tgisinternal order by tgname""",
    )
    # 'A': enabled always, so session_replication_role = replica keeps them.
    assert triggers == [
        ("account_state_transitions_chain", "A"),
        ("account_state_transitions_no_change", "A"),
        ("account_state_transitions_no_truncate", "A"),
        ("users_status_machine", "A"),
    ]
