"""Compliance hooks and closure requests, through the Python API and the CLI."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from eod.accounts.closures import cancel_closure, finalise_matured_closures, request_closure
from eod.accounts.compliance import Hit, compliance_hit, reactivate
from eod.errors import InputError
from tests_py.accounts_fixtures import connect, fetch, post_journal, setup_platform, status_of
from tests_py.conftest import run_eod


def audit(url):
    return fetch(
        url,
        """select user_id, from_state::text, to_state::text, actor, reason
           from exchange.account_state_transitions order by transition_id""",
    )


def subjects(url):
    return [r[0] for r in fetch(url, "select subject from eod.outbox order by seq")]


def requests(url):
    return fetch(
        url,
        "select request_id, user_id, status, resolved_by from exchange.closure_requests"
        " order by request_id",
    )


@contextlib.contextmanager
def cursor(url):
    with contextlib.closing(connect(url)) as conn, conn, conn.cursor() as cur:
        yield cur


@pytest.mark.parametrize(
    ("action", "expected"),
    [(None, "suspended"), ("suspend", "suspended"), ("restrict", "restricted")],
)
def test_sanctions_hit_follows_eod_sanctions_action(db_url, eod_env, action, expected):
    setup_platform(db_url, {1: "active"})
    env = dict(eod_env)
    env.pop("EOD_SANCTIONS_ACTION", None)
    if action:
        env["EOD_SANCTIONS_ACTION"] = action
    args = ["account", "compliance-hit", "--user", "1", "--kind", "sanctions"]
    out = run_eod([*args, "--actor", "screening", "--reason", "OFAC match"], env)
    assert out.stdout.strip().startswith(f"account 1: active -> {expected}")
    assert audit(db_url) == [(1, "active", expected, "screening", "sanctions hit: OFAC match")]
    assert subjects(db_url) == [f"account.{expected}"]
    again = run_eod([*args, "--actor", "screening", "--reason", "OFAC match"], env)
    assert "already frozen" in again.stdout
    assert len(audit(db_url)) == 1


def test_rekyc_and_dispute_suspend(db_url):
    setup_platform(db_url, {1: "active", 2: "restricted", 3: "pending_kyc"})
    with cursor(db_url) as cur:
        compliance_hit(cur, 1, Hit.REKYC, "kyc-team", "documents expired")
        compliance_hit(cur, 2, Hit.DISPUTE, "support", "chargeback 991")
    with cursor(db_url) as cur, pytest.raises(InputError, match="not allowed"):
        compliance_hit(cur, 3, Hit.DISPUTE, "support", "x")
    assert audit(db_url) == [
        (1, "active", "suspended", "kyc-team", "re-KYC: documents expired"),
        (2, "restricted", "suspended", "support", "dispute: chargeback 991"),
    ]
    assert status_of(db_url, 3) == "pending_kyc"


def test_reactivation_needs_a_human_actor_and_a_reason(db_url, eod_env):
    setup_platform(db_url, {1: "suspended"})
    for actor, reason, message in (
        ("eod", "break resolved", "human actor"),
        ("alice", "  ", "reason is required"),
        ("", "ok", "actor is required"),
    ):
        with cursor(db_url) as cur, pytest.raises(InputError, match=message):
            reactivate(cur, 1, actor, reason)
    cli = run_eod(
        ["account", "reactivate", "--user", "1", "--actor", "eod", "--reason", "x"],
        eod_env,
        check=False,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip() == "eod account: reactivation needs a human actor, not 'eod'"
    assert audit(db_url) == [] and status_of(db_url, 1) == "suspended"
    run_eod(["account", "reactivate", "--user", "1", "--actor", "alice", "--reason", "ok"], eod_env)
    assert audit(db_url) == [(1, "suspended", "active", "alice", "ok")]
    assert subjects(db_url) == ["account.restored"]


def test_closure_request_and_cancel(db_url, eod_env):
    setup_platform(db_url, {1: "active", 2: "suspended"})
    out = run_eod(["account", "request-closure", "--user", "1"], eod_env)
    assert "account restricted" in out.stdout
    assert status_of(db_url, 1) == "restricted"
    [(request_id, user_id, status, _)] = requests(db_url)
    assert (user_id, status) == (1, "pending")

    with cursor(db_url) as cur, pytest.raises(InputError, match="only an active account"):
        request_closure(cur, 1, "user:1", "again")
    with cursor(db_url) as cur, pytest.raises(InputError, match="only an active account"):
        request_closure(cur, 2, "user:2", "please")
    with cursor(db_url) as cur, pytest.raises(InputError, match="pending closure request"):
        reactivate(cur, 1, "alice", "wants to trade")

    out = run_eod(["account", "cancel-closure", "--user", "1"], eod_env)
    assert "account active" in out.stdout
    assert status_of(db_url, 1) == "active"
    assert requests(db_url) == [(request_id, 1, "cancelled", "user:1")]
    cli = run_eod(["account", "cancel-closure", "--user", "1"], eod_env, check=False)
    assert cli.stderr.strip() == "eod account: account 1 has no pending closure request"
    assert audit(db_url) == [
        (
            1,
            "active",
            "restricted",
            "user:1",
            f"closure request {request_id}: requested by the user",
        ),
        (
            1,
            "restricted",
            "active",
            "user:1",
            f"closure request {request_id} cancelled: cancelled by the user",
        ),
    ]
    assert subjects(db_url) == ["account.restricted", "account.restored"]


def test_cancel_does_not_lift_a_later_compliance_freeze(db_url):
    setup_platform(db_url, {1: "active"})
    with cursor(db_url) as cur:
        request_closure(cur, 1, "user:1", "leaving")
        compliance_hit(cur, 1, Hit.SANCTIONS, "screening", "match")
        cancel_closure(cur, 1, "user:1", "changed my mind")
    assert status_of(db_url, 1) == "suspended"
    assert [r[2] for r in requests(db_url)] == ["cancelled"]


def test_finalise_matured_closures(db_url):
    setup_platform(db_url, {1: "active", 2: "active", 3: "active", 4: "active"})
    post_journal(db_url, 2, "BTC", "0.25")
    post_journal(db_url, 4, "ETH", "1")
    post_journal(db_url, 4, "ETH", "-1")  # back to zero
    with cursor(db_url) as cur:
        ids = {u: request_closure(cur, u, f"user:{u}", "leaving") for u in (1, 2, 3, 4)}
        cur.execute("select now()")
        now = cur.fetchone()[0]
        # 1, 2 and 4 asked 31 days ago; 3 asked 29 days ago.
        for user_id, age in ((1, 31), (2, 31), (3, 29), (4, 31)):
            cur.execute(
                "update exchange.closure_requests set requested_at = %s where user_id = %s",
                (now - timedelta(days=age), user_id),
            )

    with contextlib.closing(connect(db_url)) as conn, conn:
        report = finalise_matured_closures(conn, now, 30)
    assert report["closed"] == [1, 4]
    assert report["kept_restricted"] == [
        {"user_id": 2, "request_id": ids[2], "balances": {"BTC": "0.250000000000000000"}}
    ]
    assert report["skipped"] == []
    assert [status_of(db_url, u) for u in (1, 2, 3, 4)] == [
        "closed",
        "restricted",
        "restricted",
        "closed",
    ]
    assert [r[2] for r in requests(db_url)] == ["closed", "pending", "pending", "closed"]
    closing = [r for r in audit(db_url) if r[2] == "closed"]
    assert closing == [
        (1, "restricted", "closed", "eod", f"closure request {ids[1]} matured after 30 days"),
        (4, "restricted", "closed", "eod", f"closure request {ids[4]} matured after 30 days"),
    ]

    # With no cooling-off the younger request closes at once; the one with money stays.
    with contextlib.closing(connect(db_url)) as conn, conn:
        report = finalise_matured_closures(conn, now, 0)
    assert report["closed"] == [3]
    assert [k["user_id"] for k in report["kept_restricted"]] == [2]
    assert subjects(db_url).count("account.closed") == 3


def test_finalise_leaves_the_callers_transaction_open(db_url):
    setup_platform(db_url, {1: "active"})
    with cursor(db_url) as cur:
        request_closure(cur, 1, "user:1", "leaving")
    with contextlib.closing(connect(db_url)) as conn:
        with conn.cursor() as cur:
            cur.execute("select now()")
            now = cur.fetchone()[0]
        report = finalise_matured_closures(conn, now + timedelta(seconds=1), 0)
        assert report["closed"] == [1]
        conn.rollback()  # the close's step failed: nothing of it stays
    assert status_of(db_url, 1) == "restricted"
