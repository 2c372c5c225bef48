"""The AdminService's break calls: the bearer token is required, and each refusal comes
back with its own status code and one-line reason."""

from __future__ import annotations

import grpc
import pytest

from eod.accounts.transitions import transition
from eod.admin.codegen import stubs
from eod.admin.server import serve
from eod.breaks.records import record_breaks
from tests_py.breaks_fixtures import D1, cursor, fetch, platform, recon

pb2, pb2_grpc = stubs()
TOKEN = "test-admin-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture
def admin(db_url):
    platform(db_url, {7: "active"})
    recon(db_url, D1, me_ledger={(7, "BTC"): "0.5"}, custody={"BTC": "2"})
    with cursor(db_url) as cur:
        record_breaks(cur, D1)
        transition(cur, 7, "suspended", "eod", "EOD 2026-11-01 ledger break: BTC")
    server, port = serve(db_url, TOKEN, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb2_grpc.AdminServiceStub(channel)
    channel.close()
    server.stop(grace=0)


def _ids(url):
    return dict(fetch(url, "select check_name, break_id from eod.recon_breaks"))


CALLS = [
    ("ListBreaks", pb2.ListBreaksRequest()),
    ("AcknowledgeBreak", pb2.AcknowledgeBreakRequest(break_id=1, actor="alice", note="seen")),
    ("ResolveBreak", pb2.ResolveBreakRequest(break_id=1, actor="alice", reason="fixed")),
]


@pytest.mark.parametrize(("method", "request_"), CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize(
    "metadata",
    [None, (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)],
    ids=["missing", "wrong", "not-bearer"],
)
def test_break_calls_need_the_token(admin, db_url, method, request_, metadata):
    before = fetch(db_url, "select * from eod.recon_breaks order by break_id")
    with pytest.raises(grpc.RpcError) as err:
        getattr(admin, method)(request_, metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert fetch(db_url, "select * from eod.recon_breaks order by break_id") == before


def test_list_acknowledge_and_resolve_with_a_restore(admin, db_url):
    ids = _ids(db_url)
    listed = admin.ListBreaks(pb2.ListBreaksRequest(check_name="me_ledger"), metadata=AUTH)
    (b,) = listed.breaks
    assert (b.break_id, b.user_id, b.currency, b.difference) == (ids["me_ledger"], 7, "BTC", "0.5")
    assert (b.first_date, b.last_date, b.status) == ("2026-11-01", "2026-11-01", "open")
    (custody,) = admin.ListBreaks(pb2.ListBreaksRequest(check_name="custody"), metadata=AUTH).breaks
    assert not custody.HasField("user_id") and custody.currency == "BTC"

    acked = admin.AcknowledgeBreak(
        pb2.AcknowledgeBreakRequest(break_id=ids["me_ledger"], actor="alice", note="looking"),
        metadata=AUTH,
    )
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "alice")
    reply = admin.ResolveBreak(
        pb2.ResolveBreakRequest(
            break_id=ids["me_ledger"], actor="alice", reason="replayed", restore=True
        ),
        metadata=AUTH,
    )
    assert reply.restored and reply.transition_id > 0
    assert (reply.resolved.status, reply.resolved.resolution) == ("resolved", "replayed")
    assert fetch(db_url, "select status::text from exchange.users where user_id = 7") == [
        ("active",)
    ]
    assert fetch(
        db_url,
        "select actor from exchange.account_state_transitions where transition_id = %s",
        (reply.transition_id,),
    ) == [("alice",)]


@pytest.mark.parametrize(
    ("method", "fields", "code", "says"),
    [
        ("ResolveBreak", {"break_id": 999, "actor": "a", "reason": "r"}, "NOT_FOUND", "no break"),
        ("AcknowledgeBreak", {"break_id": 999, "actor": "a", "note": "n"}, "NOT_FOUND", "no break"),
        ("ResolveBreak", {"actor": "eod", "reason": "r"}, "INVALID_ARGUMENT", "'eod' cannot"),
        ("AcknowledgeBreak", {"actor": "eod", "note": "n"}, "INVALID_ARGUMENT", "'eod' cannot"),
        ("ResolveBreak", {"actor": "alice", "reason": " "}, "INVALID_ARGUMENT", "reason"),
        (
            "ResolveBreak",
            {"actor": "alice", "reason": "r", "restore": True, "custody": True},
            "FAILED_PRECONDITION",
            "froze no account",
        ),
    ],
)
def test_refusals_have_their_status_code(admin, db_url, method, fields, code, says):
    ids = _ids(db_url)
    fields = dict(fields)
    if "break_id" not in fields:
        fields["break_id"] = ids["custody" if fields.pop("custody", False) else "me_ledger"]
    request = getattr(pb2, f"{method}Request")(**fields)
    before = fetch(db_url, "select * from eod.recon_breaks order by break_id")
    with pytest.raises(grpc.RpcError) as err:
        getattr(admin, method)(request, metadata=AUTH)
    assert err.value.code() == getattr(grpc.StatusCode, code)
    assert says in err.value.details() and "\n" not in err.value.details()
    assert fetch(db_url, "select * from eod.recon_breaks order by break_id") == before


def test_a_second_resolve_is_a_failed_precondition(admin, db_url):
    request = pb2.ResolveBreakRequest(break_id=_ids(db_url)["me_ledger"], actor="a", reason="r")
    admin.ResolveBreak(request, metadata=AUTH)
    with pytest.raises(grpc.RpcError) as err:
        admin.ResolveBreak(request, metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already resolved by a" in err.value.details()
