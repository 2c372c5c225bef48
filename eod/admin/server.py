"""AdminService server: bearer-token auth, loopback by default.

The token is compared in constant time; a call without it, or with another one, is
answered UNAUTHENTICATED before any handler runs. The service refuses to start
without EOD_ADMIN_TOKEN.
"""

from __future__ import annotations

import hmac
import json
import logging
from concurrent import futures
from datetime import date

import grpc

from eod.admin.codegen import stubs
from eod.business_date import parse_date
from eod.db import connect
from eod.errors import ConfigError, EodError

log = logging.getLogger(__name__)
pb2, pb2_grpc = stubs()


class BearerTokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        supplied = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(supplied.encode(), self._expected):
            return continuation(handler_call_details)
        return self._deny


def eod_status(database_url: str, business_date: date):
    conn = connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select step_name, status, attempts, started_at, finished_at, detail
                   from eod.eod_runs where business_date = %s
                   order by started_at nulls last, step_name""",
                (business_date,),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    steps, broken, closed = [], [], False
    for step, status, attempts, started, finished, detail in rows:
        steps.append(
            pb2.StepStatus(
                step_name=step,
                status=status,
                attempts=attempts,
                started_at=started.isoformat() if started else "",
                finished_at=finished.isoformat() if finished else "",
                detail_json=json.dumps(detail or {}, sort_keys=True, default=str),
            )
        )
        if step == "close" and status == "succeeded":
            closed = True
            broken = list((detail or {}).get("broken_checks", []))
    return pb2.EODStatus(
        business_date=business_date.isoformat(), closed=closed, broken_checks=broken, steps=steps
    )


class AdminService(pb2_grpc.AdminServiceServicer):
    def __init__(self, database_url: str):
        self.database_url = database_url

    def _date(self, text: str, context) -> date:
        try:
            return parse_date(text, "business_date")
        except EodError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def RunEOD(self, request, context):  # noqa: N802 - gRPC method name
        from flows.eod_close import CloseFailed, eod_close

        day = self._date(request.business_date, context)
        try:
            eod_close(business_date=day.isoformat())
        except (CloseFailed, EodError) as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return eod_status(self.database_url, day)

    def GetEODStatus(self, request, context):  # noqa: N802
        return eod_status(self.database_url, self._date(request.business_date, context))

    def TransitionAccount(self, request, context):  # noqa: N802
        conn = connect(self.database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "select status::text from exchange.users where user_id = %s", (request.user_id,)
                )
                row = cur.fetchone()
                if row is None:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"unknown user {request.user_id}")
                cur.execute(
                    "select exchange.transition_account(%s, %s, %s, %s)",
                    (request.user_id, request.to_state, request.actor, request.reason),
                )
                result = cur.fetchone()[0]
        except grpc.RpcError:
            raise
        except Exception as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc).strip().splitlines()[0])
        finally:
            conn.close()
        return pb2.TransitionAccountResponse(
            user_id=request.user_id,
            from_state=row[0],
            to_state=request.to_state,
            transition_id=int(result) if isinstance(result, int) else 0,
        )

    def AdjustBalance(self, request, context):  # noqa: N802
        from eod.accounts.adjustments import adjust_balance

        try:
            outcome = adjust_balance(
                self.database_url,
                user_id=request.user_id,
                currency=request.currency,
                amount=request.amount,
                reason=request.reason,
                key=request.idempotency_key,
                actor=request.actor or "admin-service",
            )
        except EodError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb2.AdjustBalanceResponse(
            journal_id=str(outcome.journal_id), created=bool(outcome.created)
        )


def serve(database_url: str, token: str | None, host: str = "127.0.0.1", port: int = 50051):
    """Start the server; returns (server, bound port)."""
    if not token:
        raise ConfigError("EOD_ADMIN_TOKEN is not set: the AdminService refuses to start")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[BearerTokenInterceptor(token)],
    )
    pb2_grpc.add_AdminServiceServicer_to_server(AdminService(database_url), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise ConfigError(f"cannot listen on {host}:{port}")
    server.start()
    log.info("AdminService listening on %s:%s", host, bound)
    return server, bound
