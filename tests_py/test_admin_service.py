"""AdminService: bearer token required (constant-time compare), loopback, status over gRPC."""

from __future__ import annotations

import grpc
import psycopg2
import pytest

from eod.admin.codegen import stubs
from eod.admin.server import serve
from eod.errors import ConfigError

pb2, pb2_grpc = stubs()
TOKEN = "test-admin-token"


@pytest.fixture
def admin(db_url):
    server, port = serve(db_url, TOKEN, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb2_grpc.AdminServiceStub(channel)
    channel.close()
    server.stop(grace=0)


def test_refuses_to_start_without_a_token(db_url):
    with pytest.raises(ConfigError, match="EOD_ADMIN_TOKEN"):
        serve(db_url, None)


@pytest.mark.parametrize(
    "metadata", [None, (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)]
)
def test_calls_without_the_right_token_are_unauthenticated(admin, metadata):
    with pytest.raises(grpc.RpcError) as err:
        admin.GetEODStatus(pb2.GetEODStatusRequest(business_date="2026-11-02"), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_status_reports_recorded_steps(admin, db_url):
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into eod.eod_runs (business_date, step_name, status, attempts, started_at,
                                         finished_at, detail)
               values ('2026-11-02', 'capture_registry', 'succeeded', 1, now(), now(), '{}'),
                      ('2026-11-02', 'close', 'succeeded', 1, now(), now(),
                       '{"broken_checks": ["custody"]}')"""
        )
    reply = admin.GetEODStatus(
        pb2.GetEODStatusRequest(business_date="2026-11-02"),
        metadata=(("authorization", f"Bearer {TOKEN}"),),
    )
    assert reply.closed and list(reply.broken_checks) == ["custody"]
    assert {s.step_name: s.status for s in reply.steps} == {
        "capture_registry": "succeeded",
        "close": "succeeded",
    }


def test_bad_date_is_invalid_argument(admin):
    with pytest.raises(grpc.RpcError) as err:
        admin.GetEODStatus(
            pb2.GetEODStatusRequest(business_date="yesterday"),
            metadata=(("authorization", f"Bearer {TOKEN}"),),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _user(db_url, user_id=7, status="active"):
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("insert into exchange.currencies values ('BTC', 8, 0) on conflict do nothing")
        cur.execute(
            "insert into exchange.users (user_id, status) values (%s, %s)", (user_id, status)
        )
        cur.execute(
            "insert into exchange.accounts (user_id, currency) values (%s, 'BTC')", (user_id,)
        )


def test_transition_account_goes_through_the_state_machine(admin, db_url):
    _user(db_url)
    reply = admin.TransitionAccount(
        pb2.TransitionAccountRequest(
            user_id=7, to_state="suspended", actor="alice", reason="dispute 42"
        ),
        metadata=AUTH,
    )
    assert (reply.from_state, reply.to_state) == ("active", "suspended")
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select status::text from exchange.users where user_id = 7")
        assert cur.fetchone() == ("suspended",)
        cur.execute("select transition_id, actor, reason from exchange.account_state_transitions")
        assert cur.fetchall() == [(reply.transition_id, "alice", "dispute 42")]
    # suspended -> pending_kyc is not an allowed transition
    with pytest.raises(grpc.RpcError) as err:
        admin.TransitionAccount(
            pb2.TransitionAccountRequest(
                user_id=7, to_state="pending_kyc", actor="alice", reason="not an allowed transition"
            ),
            metadata=AUTH,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_adjust_balance_is_idempotent_per_key(admin, db_url):
    _user(db_url)
    request = pb2.AdjustBalanceRequest(
        user_id=7,
        currency="BTC",
        amount="0.5",
        reason="goodwill credit",
        idempotency_key="k-1",
        actor="alice",
    )
    first = admin.AdjustBalance(request, metadata=AUTH)
    again = admin.AdjustBalance(request, metadata=AUTH)
    assert first.created and not again.created and first.journal_id == again.journal_id
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select account, amount from exchange.ledger_entries order by account")
        assert [(a, str(x)) for a, x in cur.fetchall()] == [
            ("house:adjustments", "-0.500000000000000000"),
            ("user", "0.500000000000000000"),
        ]
    with pytest.raises(grpc.RpcError) as err:
        admin.AdjustBalance(
            pb2.AdjustBalanceRequest(
                user_id=7,
                currency="BTC",
                amount="0.000000001",
                reason="too precise",
                idempotency_key="k-2",
                actor="alice",
            ),
            metadata=AUTH,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_run_eod_refuses_a_malformed_date(admin):
    with pytest.raises(grpc.RpcError) as err:
        admin.RunEOD(pb2.RunEODRequest(business_date="2026-13-01"), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "YYYY-MM-DD" in err.value.details()


REAL_SYSTEMS = (
    "EOD_ME_URL",
    "EOD_CUSTODY_URL",
    "EOD_CUSTODY_TOKEN",
    "EOD_STAKING_RPC_URL",
    "EOD_STAKING_POOL_ADDRESS",
    "EOD_POR_SECRET",
)


def test_run_eod_refuses_without_real_external_systems(admin, db_url, monkeypatch):
    """RunEOD is `eod close`: no simulator fallback, and nothing recorded."""
    monkeypatch.setenv("EOD_DATABASE_URL", db_url)
    for name in REAL_SYSTEMS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(grpc.RpcError) as err:
        admin.RunEOD(pb2.RunEODRequest(business_date="2026-11-02"), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == (
        "eod close needs " + ", ".join(REAL_SYSTEMS) + " (see README, Configuration)"
    )
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from eod.eod_runs")
        assert cur.fetchone()[0] == 0


def test_run_eod_closes_with_catch_up(admin, db_url, nats_url, monkeypatch, tmp_path):
    """Once the chain has started, RunEOD of a later date closes the dates between
    first, and answers with the date's status."""
    from tests_py.close_fixtures import running_exchange

    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=3) as x:
        first, between, last = x.dates
        reply = admin.RunEOD(pb2.RunEODRequest(business_date=first.isoformat()), metadata=AUTH)
        assert reply.closed and list(reply.broken_checks) == []
        reply = admin.RunEOD(pb2.RunEODRequest(business_date=last.isoformat()), metadata=AUTH)
        assert reply.business_date == last.isoformat() and reply.closed
        assert {s.step_name for s in reply.steps} >= {"capture_registry", "dbt_build", "close"}
        closed = x.fetch(
            "select business_date from eod.eod_runs where step_name = 'close'"
            " and status = 'succeeded' order by 1"
        )
        assert closed == [(first,), (between,), (last,)]
