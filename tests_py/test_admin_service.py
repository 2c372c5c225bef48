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
