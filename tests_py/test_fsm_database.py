"""The database enforces the account-state machine on every path, audits every
transition in a hash chain and writes its event into the outbox."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from datetime import UTC

import psycopg2
import pytest

from tests_py.accounts_fixtures import (
    ALLOWED,
    CONTRACT_STATES,
    connect,
    expected_subject,
    fetch,
    post_journal,
    setup_platform,
    status_of,
)
from tests_py.conftest import run_eod

REFUSED = [
    ("pending_kyc", "active"),
    ("pending_kyc", "closed"),
    ("kyc_rejected", "active"),
    ("kyc_approved", "pending_kyc"),
    ("active", "pending_kyc"),
    ("active", "kyc_approved"),
    ("suspended", "kyc_rejected"),
    ("restricted", "pending_kyc"),
    ("closed", "active"),
    ("closed", "banned"),
    ("banned", "active"),
    ("banned", "closed"),
]


def call_function(cur, user_id, to_state, actor="alice", reason="checked"):
    cur.execute(
        "select exchange.transition_account(%s, %s, %s, %s)", (user_id, to_state, actor, reason)
    )
    return cur.fetchone()[0]


def raw_update(cur, user_id, to_state, actor="alice", reason="checked"):
    if actor is not None:
        cur.execute("select set_config('eod.actor', %s, true)", (actor,))
    if reason is not None:
        cur.execute("select set_config('eod.reason', %s, true)", (reason,))
    cur.execute("update exchange.users set status = %s where user_id = %s", (to_state, user_id))


def as_app(url):
    """A connection that acts as the application role."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("set role eod_app")
    conn.commit()
    return conn


def audit_rows(url):
    return fetch(
        url,
        """select transition_id, user_id, from_state::text, to_state::text, actor, reason,
                  occurred_at, prev_hash, hash
           from exchange.account_state_transitions order by transition_id""",
    )


def outbox_rows(url):
    return fetch(url, "select event_id::text, subject, payload from eod.outbox order by seq")


@pytest.mark.parametrize("path", ["function", "raw_update"])
def test_every_allowed_transition_is_applied_audited_and_evented(db_url, path):
    users = {i + 1: src for i, (src, _) in enumerate(ALLOWED)}
    setup_platform(db_url, users)
    conn = as_app(db_url)
    try:
        for i, (_src, dst) in enumerate(ALLOWED):
            with conn, conn.cursor() as cur:
                if path == "function":
                    call_function(cur, i + 1, dst, actor=f"officer{i}", reason=f"case {i}")
                else:
                    raw_update(cur, i + 1, dst, actor=f"officer{i}", reason=f"case {i}")
    finally:
        conn.close()

    for i, (_src, dst) in enumerate(ALLOWED):
        assert status_of(db_url, i + 1) == dst
    audit = audit_rows(db_url)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in audit] == [
        (i + 1, src, dst, f"officer{i}", f"case {i}") for i, (src, dst) in enumerate(ALLOWED)
    ]
    # The chain, recomputed here from the documented encoding.
    prev = "0" * 64
    for tid, uid, src, dst, actor, reason, occurred_at, prev_hash, stored in audit:
        assert prev_hash == prev
        instant = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = [str(tid), str(uid), src, dst, actor, reason, instant]
        text = prev + "".join(f"{len(f)}:{f};" for f in fields)
        assert stored == hashlib.sha256(text.encode()).hexdigest()
        prev = stored

    events = outbox_rows(db_url)
    assert len(events) == len(ALLOWED)
    for (event_id, subject, payload), row in zip(events, audit, strict=True):
        tid, uid, src, dst, actor, reason, occurred_at = row[:7]
        assert subject == expected_subject(src, dst)
        trade, withdraw = CONTRACT_STATES[dst]
        assert payload == {
            "event_id": event_id,
            "transition_id": tid,
            "user_id": uid,
            "from_state": src,
            "to_state": dst,
            "actor": actor,
            "reason": reason,
            "occurred_at": occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "can_trade": trade,
            "can_withdraw": withdraw,
        }


@pytest.mark.parametrize("path", ["function", "raw_update"])
def test_refused_transitions_change_nothing(db_url, path):
    setup_platform(db_url, {i + 1: src for i, (src, _) in enumerate(REFUSED)})
    conn = as_app(db_url)
    try:
        for i, (_src, dst) in enumerate(REFUSED):
            with (
                pytest.raises(psycopg2.Error, match="not allowed|terminal"),
                conn,
                conn.cursor() as cur,
            ):
                if path == "function":
                    call_function(cur, i + 1, dst)
                else:
                    raw_update(cur, i + 1, dst)
    finally:
        conn.close()
    for i, (src, _dst) in enumerate(REFUSED):
        assert status_of(db_url, i + 1) == src
    assert audit_rows(db_url) == []
    assert outbox_rows(db_url) == []


@pytest.mark.parametrize(
    ("actor", "reason"), [(None, None), ("alice", None), (None, "why"), ("  ", "why"), ("a", "")]
)
def test_raw_update_without_actor_or_reason_is_refused(db_url, actor, reason):
    setup_platform(db_url, {1: "active"})
    with contextlib.closing(as_app(db_url)) as conn:
        with (
            pytest.raises(psycopg2.Error, match="needs an actor and a reason"),
            conn,
            conn.cursor() as cur,
        ):
            raw_update(cur, 1, "suspended", actor=actor, reason=reason)
        with (
            pytest.raises(psycopg2.Error, match="needs an? (actor|reason)"),
            conn,
            conn.cursor() as cur,
        ):
            call_function(cur, 1, "suspended", actor=actor or " ", reason=reason or "")
    assert status_of(db_url, 1) == "active"
    assert audit_rows(db_url) == [] and outbox_rows(db_url) == []


def test_settings_of_transition_account_do_not_leak_into_a_later_raw_update(db_url):
    setup_platform(db_url, {1: "active", 2: "active"})
    conn = as_app(db_url)
    try:
        with pytest.raises(psycopg2.Error, match="needs an actor and a reason"), conn:
            cur = conn.cursor()
            call_function(cur, 1, "suspended")
            cur.execute("update exchange.users set status = 'suspended' where user_id = 2")
    finally:
        conn.close()
    assert status_of(db_url, 1) == "active"  # the whole transaction rolled back


def test_entering_closed_needs_every_balance_at_zero(db_url):
    setup_platform(db_url, {1: "active", 2: "restricted"})
    post_journal(db_url, 1, "BTC", "0.5")
    post_journal(db_url, 1, "ETH", "0.000000000000000001")
    post_journal(db_url, 2, "USDT", "10")
    with contextlib.closing(connect(db_url)) as conn:
        for path in (call_function, raw_update):
            with (
                pytest.raises(psycopg2.Error, match="every balance at zero"),
                conn,
                conn.cursor() as cur,
            ):
                path(cur, 1, "closed")
        post_journal(db_url, 1, "BTC", "-0.5")
        with (
            pytest.raises(psycopg2.Error, match=r"ETH 0\.000000000000000001"),
            conn,
            conn.cursor() as cur,
        ):
            call_function(cur, 1, "closed")
        post_journal(db_url, 1, "ETH", "-0.000000000000000001")
        post_journal(db_url, 2, "USDT", "-10")
        with conn, conn.cursor() as cur:
            call_function(cur, 1, "closed")
            raw_update(cur, 2, "closed")
    assert status_of(db_url, 1) == "closed" and status_of(db_url, 2) == "closed"


def test_terminal_states_stay_terminal(db_url):
    setup_platform(db_url, {1: "active"})
    with contextlib.closing(connect(db_url)) as conn:
        with conn, conn.cursor() as cur:
            call_function(cur, 1, "banned")
        for target in CONTRACT_STATES:
            if target == "banned":
                continue
            with pytest.raises(psycopg2.Error, match="terminal"), conn, conn.cursor() as cur:
                raw_update(cur, 1, target)
    assert status_of(db_url, 1) == "banned"


def test_restoring_needs_a_human_actor(db_url):
    setup_platform(db_url, {1: "suspended", 2: "restricted"})
    with contextlib.closing(connect(db_url)) as conn:
        for user_id in (1, 2):
            with pytest.raises(psycopg2.Error, match="human actor"), conn, conn.cursor() as cur:
                call_function(cur, user_id, "active", actor="eod")
        with conn, conn.cursor() as cur:
            call_function(cur, 1, "active", actor="bob")
    assert status_of(db_url, 1) == "active" and status_of(db_url, 2) == "restricted"


def _audit_attacks():
    return [
        ("update exchange.account_state_transitions set reason = 'rewritten'", "append-only"),
        ("delete from exchange.account_state_transitions", "append-only"),
        ("truncate exchange.account_state_transitions", "append-only"),
        (
            "insert into exchange.account_state_transitions values "
            "(100, 1, 'active', 'banned', 'x', 'y', now(), repeat('0', 64), repeat('1', 64))",
            "written only by account transitions",
        ),
    ]


@pytest.mark.parametrize("role", ["owner", "eod_app"])
@pytest.mark.parametrize("replica", [False, True])
def test_audit_is_append_only_for_owner_and_application_role(db_url, role, replica):
    setup_platform(db_url, {1: "active"})
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        call_function(cur, 1, "suspended")
    before = audit_rows(db_url)
    with contextlib.closing(connect(db_url)) as conn:
        for sql, owner_error in _audit_attacks():
            with pytest.raises(psycopg2.Error) as caught, conn, conn.cursor() as cur:
                if replica:
                    cur.execute("set local session_replication_role = replica")
                if role == "eod_app":
                    cur.execute("set local role eod_app")
                cur.execute(sql)
            message = str(caught.value)
            assert (owner_error in message) if role == "owner" else ("permission denied" in message)
    assert audit_rows(db_url) == before


def test_replica_mode_does_not_switch_the_status_trigger_off(db_url):
    setup_platform(db_url, {1: "active", 2: "pending_kyc"})
    with contextlib.closing(connect(db_url)) as conn:
        with (
            pytest.raises(psycopg2.Error, match="needs an actor and a reason"),
            conn,
            conn.cursor() as cur,
        ):
            cur.execute("set local session_replication_role = replica")
            cur.execute("update exchange.users set status = 'banned' where user_id = 1")
        with pytest.raises(psycopg2.Error, match="not allowed"), conn, conn.cursor() as cur:
            cur.execute("set local session_replication_role = replica")
            raw_update(cur, 2, "active")
        with conn, conn.cursor() as cur:  # an allowed one is still audited and evented
            cur.execute("set local session_replication_role = replica")
            raw_update(cur, 1, "suspended")
    assert [r[2:4] for r in audit_rows(db_url)] == [("active", "suspended")]
    assert [r[1] for r in outbox_rows(db_url)] == ["account.suspended"]


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("set session_replication_role = replica", "permission denied"),
        ("alter table exchange.users disable trigger users_status_machine", "must be owner"),
        ("alter table exchange.users disable trigger all", "must be owner"),
        (
            "alter table exchange.account_state_transitions"
            " disable trigger account_state_transitions_no_change",
            "must be owner",
        ),
        ("drop trigger users_status_machine on exchange.users", "must be owner"),
        (
            "create or replace function exchange.enforce_account_transition() returns trigger"
            " language plpgsql as $$ begin return null; end $$",
            "permission denied|must be owner",
        ),
        ("delete from exchange.account_transition_rules", "permission denied"),
        (
            "insert into exchange.account_transition_rules values"
            " ('pending_kyc', 'active', 'account.active', null)",
            "permission denied",
        ),
        ("insert into exchange.users (user_id, status) values (9, 'active')", "permission denied"),
        ("update exchange.users set user_id = 5 where user_id = 1", "permission denied"),
        ("update exchange.ledger_entries set amount = 0", "permission denied"),
    ],
)
def test_application_role_cannot_bypass_the_machine(db_url, sql, error):
    setup_platform(db_url, {1: "active"})
    conn = as_app(db_url)
    try:
        with pytest.raises(psycopg2.Error, match=error), conn, conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()
    assert status_of(db_url, 1) == "active"
    assert len(fetch(db_url, "select * from exchange.account_transition_rules")) == len(ALLOWED)


def _wait_until_blocked(url: str, pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = fetch(url, "select wait_event_type from pg_stat_activity where pid = %s", (pid,))
        if rows and rows[0][0] == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError("the second transition never waited for the first")


@pytest.mark.parametrize("path", [call_function, raw_update], ids=["function", "raw_update"])
@pytest.mark.parametrize(
    ("first", "second", "second_ok"),
    [("restricted", "suspended", True), ("banned", "suspended", False)],
)
def test_concurrent_transitions_serialise_on_the_state_they_find(
    db_url, path, first, second, second_ok
):
    setup_platform(db_url, {1: "active"})
    a = connect(db_url)
    b = connect(db_url)
    outcome: dict = {}

    def second_transition():
        try:
            with b, b.cursor() as cur:
                path(cur, 1, second, actor="bob", reason="second")
            outcome["ok"] = True
        except psycopg2.Error as exc:
            outcome["error"] = str(exc)

    try:
        with a.cursor() as cur:
            path(cur, 1, first, actor="alice", reason="first")
        thread = threading.Thread(target=second_transition)
        thread.start()
        _wait_until_blocked(db_url, b.get_backend_pid())
        a.commit()
        thread.join(timeout=20)
    finally:
        a.close()
        b.close()

    audit = [r[2:5] for r in audit_rows(db_url)]
    if second_ok:
        assert outcome == {"ok": True}
        assert audit == [("active", first, "alice"), (first, second, "bob")]
        assert status_of(db_url, 1) == second
    else:
        assert "terminal" in outcome["error"]
        assert audit == [("active", first, "alice")]
        assert status_of(db_url, 1) == first


def test_transitions_outside_read_committed_are_refused(db_url):
    setup_platform(db_url, {1: "active"})
    with contextlib.closing(connect(db_url)) as conn:
        conn.set_session(isolation_level="REPEATABLE READ")
        with pytest.raises(psycopg2.Error, match="READ COMMITTED"), conn, conn.cursor() as cur:
            call_function(cur, 1, "suspended")
    assert status_of(db_url, 1) == "active"


def test_verify_audit_names_the_first_tampered_row(db_url, eod_env):
    setup_platform(db_url, {1: "active", 2: "pending_kyc"})
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        call_function(cur, 1, "suspended")
        call_function(cur, 2, "kyc_approved")
        call_function(cur, 1, "restricted")
        call_function(cur, 2, "active")
    ids = [r[0] for r in audit_rows(db_url)]
    ok = run_eod(["account", "verify-audit"], eod_env)
    assert "4 transitions verified" in ok.stdout

    def owner_tampers(sql):
        # Tampering needs DDL by the owner: the row triggers refuse plain DML to everyone.
        with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
            cur.execute(
                "alter table exchange.account_state_transitions"
                " disable trigger account_state_transitions_no_change"
            )
            cur.execute(sql)
            cur.execute(
                "alter table exchange.account_state_transitions"
                " enable always trigger account_state_transitions_no_change"
            )

    owner_tampers(
        f"update exchange.account_state_transitions set reason = 'nothing to see'"
        f" where transition_id = {ids[2]}"
    )
    bad = run_eod(["account", "verify-audit"], eod_env, check=False)
    assert bad.returncode == 1
    assert f"broken at transition {ids[2]}: content" in bad.stdout

    owner_tampers(f"delete from exchange.account_state_transitions where transition_id = {ids[1]}")
    bad = run_eod(["account", "verify-audit"], eod_env, check=False)
    assert bad.returncode == 1
    assert f"broken at transition {ids[2]}: prev_hash" in bad.stdout


def test_cli_transition_and_history(db_url, eod_env):
    setup_platform(db_url, {7: "kyc_approved"})
    out = run_eod(
        [
            "account",
            "transition",
            "--user",
            "7",
            "--to",
            "active",
            "--actor",
            "ops",
            "--reason",
            "ok",
        ],
        eod_env,
    )
    assert "account 7: kyc_approved -> active" in out.stdout
    refused = run_eod(
        [
            "account",
            "transition",
            "--user",
            "7",
            "--to",
            "pending_kyc",
            "--actor",
            "o",
            "--reason",
            "r",
        ],
        eod_env,
        check=False,
    )
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        "eod account: account 7: transition active -> pending_kyc is not allowed"
    )
    unknown = run_eod(
        ["account", "transition", "--user", "8", "--to", "active", "--actor", "o", "--reason", "r"],
        eod_env,
        check=False,
    )
    assert unknown.stderr.strip() == "eod account: unknown user 8"
    history = run_eod(["account", "history", "--user", "7"], eod_env)
    lines = history.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[3:] == ["kyc_approved -> active", "ops", "ok"]
