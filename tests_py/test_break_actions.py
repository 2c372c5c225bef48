"""Operators acting on breaks: acknowledge and resolve record who and why, refuse the
actor `eod`, an empty reason, an unknown id and a second resolve, and write nothing
when they refuse; a restore goes through the state machine and is refused while the
user has another open engine/ledger break."""

from __future__ import annotations

import json

import pytest

from eod.accounts.transitions import transition
from eod.breaks.actions import BreakNotFound, BreakRefused, acknowledge, list_breaks, resolve
from eod.breaks.records import record_breaks
from eod.errors import InputError
from tests_py.breaks_fixtures import D1, D2, cursor, events, fetch, platform, recon
from tests_py.conftest import run_eod


def _breaks(url, me_ledger, custody=(), users=None, day=D1):
    platform(url, users or {u: "active" for u, _ in dict(me_ledger)})
    recon(url, day, me_ledger=me_ledger, custody=custody)
    with cursor(url) as cur:
        record_breaks(cur, day)
    return {
        (check, user, currency): break_id
        for break_id, check, user, currency in fetch(
            url, "select break_id, check_name, user_id, currency from eod.recon_breaks"
        )
    }


def _freeze(url, user_id, actor="eod", reason="EOD 2026-11-01 ledger break: BTC"):
    with cursor(url) as cur:
        transition(cur, user_id, "suspended", actor, reason)


def _state(url, user_id):
    (row,) = fetch(url, "select status::text from exchange.users where user_id = %s", (user_id,))
    return row[0]


def _writes(url):
    """Everything an action may write."""
    return (
        fetch(url, "select * from eod.recon_breaks order by break_id"),
        fetch(url, "select count(*) from eod.recon_break_actions"),
        fetch(url, "select count(*) from eod.outbox"),
        fetch(url, "select count(*) from exchange.account_state_transitions"),
    )


def test_acknowledge_then_resolve_record_actor_and_reason(db_url):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"})
    b = ids[("me_ledger", 7, "BTC")]
    with cursor(db_url) as cur:
        acked = acknowledge(cur, b, " alice ", "looking at the deposit of 10:02")
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "alice")
    assert acked.acknowledged_at is not None
    with cursor(db_url) as cur:
        outcome = resolve(cur, b, "bob", "deposit credited late; journal 42 posted")
    done = outcome.resolved
    assert (done.status, done.resolved_by, done.resolution) == (
        "resolved",
        "bob",
        "deposit credited late; journal 42 posted",
    )
    assert outcome.restored is None and _state(db_url, 7) == "active"
    assert fetch(
        db_url,
        "select action, actor, reason, business_date, transition_id from eod.recon_break_actions"
        " where break_id = %s order by action_id",
        (b,),
    ) == [
        ("opened", "eod", "found by the close of 2026-11-01", D1, None),
        ("acknowledged", "alice", "looking at the deposit of 10:02", None, None),
        ("resolved", "bob", "deposit credited late; journal 42 posted", None, None),
    ]
    published = {s: p for s, p in events(db_url) if s != "eod.break.opened"}
    assert published["eod.break.acknowledged"]["actor"] == "alice"
    assert published["eod.break.acknowledged"]["note"] == "looking at the deposit of 10:02"
    assert published["eod.break.resolved"]["actor"] == "bob"
    assert published["eod.break.resolved"]["restored"] is False
    assert published["eod.break.resolved"]["break_id"] == b


@pytest.mark.parametrize(
    ("action", "args", "error", "says"),
    [
        ("ack", ("eod", "seen"), InputError, "'eod' cannot"),
        ("ack", ("EOD ", "seen"), InputError, "'eod' cannot"),
        ("ack", ("", "seen"), InputError, "who acts"),
        ("ack", ("alice", "  "), InputError, "a note is required"),
        ("resolve", ("eod", "fixed"), InputError, "'eod' cannot"),
        ("resolve", ("alice", ""), InputError, "a reason is required"),
        ("resolve", (None, "fixed"), InputError, "who acts"),
    ],
)
def test_refusals_write_nothing(db_url, action, args, error, says):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"})
    before = _writes(db_url)
    with cursor(db_url) as cur, pytest.raises(error, match=says):
        if action == "ack":
            acknowledge(cur, ids[("me_ledger", 7, "BTC")], *args)
        else:
            resolve(cur, ids[("me_ledger", 7, "BTC")], *args)
    assert _writes(db_url) == before


def test_unknown_id_second_ack_and_second_resolve_are_refused(db_url):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"})
    b = ids[("me_ledger", 7, "BTC")]
    with cursor(db_url) as cur, pytest.raises(BreakNotFound, match="no break 999"):
        resolve(cur, 999, "alice", "fixed")
    with cursor(db_url) as cur, pytest.raises(BreakNotFound, match="no break 999"):
        acknowledge(cur, 999, "alice", "seen")
    with cursor(db_url) as cur:
        acknowledge(cur, b, "alice", "seen")
    before = _writes(db_url)
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match="already acknowledged by alice"):
        acknowledge(cur, b, "bob", "seen too")
    with cursor(db_url) as cur:
        resolve(cur, b, "alice", "fixed")
    before = _writes(db_url)
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match="already resolved by alice"):
        resolve(cur, b, "bob", "fixed again")
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match="already resolved"):
        acknowledge(cur, b, "bob", "late")
    assert _writes(db_url) == before


def test_restore_gives_the_account_back_through_the_state_machine(db_url):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"})
    _freeze(db_url, 7)
    b = ids[("me_ledger", 7, "BTC")]
    with cursor(db_url) as cur:
        outcome = resolve(cur, b, "alice", "engine replayed the deposit", restore=True)
    assert _state(db_url, 7) == "active"
    t = outcome.restored
    assert (t.from_state, t.to_state, t.actor) == ("suspended", "active", "alice")
    assert fetch(
        db_url,
        "select transition_id from eod.recon_break_actions where break_id = %s"
        " and action = 'resolved'",
        (b,),
    ) == [(t.transition_id,)]
    (restored,) = fetch(db_url, "select payload from eod.outbox where subject = 'account.restored'")
    assert restored[0]["actor"] == "alice" and restored[0]["user_id"] == 7
    assert restored[0]["from_state"] == "suspended" and restored[0]["to_state"] == "active"
    resolved = dict(events(db_url))["eod.break.resolved"]
    assert resolved["restored"] is True and resolved["transition_id"] == t.transition_id


def test_restore_is_refused_while_another_break_of_the_user_is_open(db_url):
    ids = _breaks(db_url, {(7, "BTC"): "0.5", (7, "ETH"): "1"})
    _freeze(db_url, 7)
    btc, eth = ids[("me_ledger", 7, "BTC")], ids[("me_ledger", 7, "ETH")]
    before = _writes(db_url)
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match=f"another open .*\\({eth}\\)"):
        resolve(cur, btc, "alice", "fixed", restore=True)
    assert _writes(db_url) == before and _state(db_url, 7) == "suspended"
    # resolving the other without restoring leaves the account frozen; then the restore goes
    with cursor(db_url) as cur:
        resolve(cur, eth, "alice", "ETH fixed")
    assert _state(db_url, 7) == "suspended"
    with cursor(db_url) as cur:
        resolve(cur, btc, "alice", "BTC fixed", restore=True)
    assert _state(db_url, 7) == "active"


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("active", "is active, not frozen"),
        ("compliance", "was made suspended by alice \\(dispute 12\\), not by the close"),
    ],
)
def test_restore_is_refused_unless_the_close_froze_the_account(db_url, setup, says):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"})
    if setup == "compliance":
        _freeze(db_url, 7, actor="alice", reason="dispute 12")
    before = _writes(db_url)
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match=says):
        resolve(cur, ids[("me_ledger", 7, "BTC")], "bob", "fixed", restore=True)
    assert _writes(db_url) == before


def test_a_custody_break_has_no_account_to_restore(db_url):
    ids = _breaks(db_url, {}, custody={"BTC": "1"})
    with cursor(db_url) as cur, pytest.raises(BreakRefused, match="custody break"):
        resolve(cur, ids[("custody", None, "BTC")], "alice", "fixed", restore=True)


def test_list_filters(db_url):
    ids = _breaks(db_url, {(7, "BTC"): "0.5", (8, "ETH"): "1"}, custody={"BTC": "2"})
    recon(db_url, D2, me_ledger={(7, "BTC"): "0.5"})
    with cursor(db_url) as cur:
        record_breaks(cur, D2)
        acknowledge(cur, ids[("me_ledger", 7, "BTC")], "alice", "seen")
    with cursor(db_url) as cur:
        assert [b.break_id for b in list_breaks(cur)] == sorted(ids.values())
        assert [b.break_id for b in list_breaks(cur, status="acknowledged")] == [
            ids[("me_ledger", 7, "BTC")]
        ]
        assert [b.break_id for b in list_breaks(cur, business_date=D2)] == [
            ids[("me_ledger", 7, "BTC")]
        ]
        assert [b.break_id for b in list_breaks(cur, check="custody")] == [
            ids[("custody", None, "BTC")]
        ]
        with pytest.raises(InputError, match="unknown status"):
            list_breaks(cur, status="closed")


def test_the_cli_lists_acknowledges_and_resolves(db_url, eod_env):
    ids = _breaks(db_url, {(7, "BTC"): "0.5"}, custody={"BTC": "2"})
    _freeze(db_url, 7)
    b = ids[("me_ledger", 7, "BTC")]
    table = run_eod(["breaks", "list"], eod_env).stdout.splitlines()
    assert table[0].split() == [
        "id",
        "check",
        "user",
        "currency",
        "first",
        "last",
        "days",
        "difference",
        "status",
        "by",
    ]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[str(b)] == [
        str(b),
        *("me_ledger", "7", "BTC", "2026-11-01", "2026-11-01", "0", "0.5", "open"),
    ]
    assert len(table) == 3

    refused = run_eod(["breaks", "ack", str(b), "--by", "eod", "--note", "x"], eod_env, check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "eod breaks: 'eod' cannot acknowledge or resolve a break: a person must"
    ]
    refused = run_eod(["breaks", "resolve", "999", "--by", "a", "--reason", "x"], eod_env, False)
    assert refused.returncode != 0 and refused.stderr.strip() == "eod breaks: no break 999"

    run_eod(["breaks", "ack", str(b), "--by", "alice", "--note", "checking"], eod_env)
    out = run_eod(
        ["breaks", "resolve", str(b), "--by", "alice", "--reason", "replayed", "--restore"],
        eod_env,
    ).stdout
    assert f"break {b} resolved by alice: replayed" in out
    assert "account 7: suspended -> active" in out and _state(db_url, 7) == "active"

    lines = run_eod(["breaks", "list", "--json", "--status", "resolved"], eod_env).stdout
    (record,) = [json.loads(line) for line in lines.splitlines()]
    assert record["break_id"] == b and record["difference"] == "0.5"
    assert (record["resolved_by"], record["resolution"]) == ("alice", "replayed")
    assert record["first_date"] == "2026-11-01"


def test_the_services_roles_may_do_what_they_need_and_no_more(db_url):
    """The close's role records breaks and seals; the AdminService's acts on breaks
    (a restore included) but cannot seal or rewrite the audit."""
    import psycopg2

    from eod.seal import seal_close

    platform(db_url, {7: "active"})
    recon(db_url, D1, me_ledger={(7, "BTC"): "0.5"})
    with cursor(db_url) as cur:
        cur.execute("grant select on all tables in schema marts to eod_runner")
        cur.execute("set role eod_runner")
        record_breaks(cur, D1)
        transition(cur, 7, "suspended", "eod", "EOD 2026-11-01 ledger break: BTC")
        seal_close(cur, D1)
    (b,) = fetch(db_url, "select break_id from eod.recon_breaks")
    with cursor(db_url) as cur:
        cur.execute("set role eod_admin")
        acknowledge(cur, b[0], "alice", "seen")
        resolve(cur, b[0], "alice", "fixed", restore=True)
    assert _state(db_url, 7) == "active"
    for statement in (
        "insert into eod.close_seals (business_date, seal_hash, prev_seal_hash, por_digest,"
        " marts_digest, ledger_digest) select business_date + 1, seal_hash, prev_seal_hash,"
        " por_digest, marts_digest, ledger_digest from eod.close_seals",
        "delete from eod.recon_break_actions",
    ):
        with cursor(db_url) as cur, pytest.raises(psycopg2.Error):
            cur.execute("set role eod_admin")
            cur.execute(statement)
