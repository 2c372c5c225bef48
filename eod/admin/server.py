"""AdminService server: bearer-token auth, loopback by default.

The token is compared in constant time; a call without it, or with another one, is
answered UNAUTHENTICATED before any handler runs. The service refuses to start
without EOD_ADMIN_TOKEN.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from concurrent import futures
from datetime import date

import grpc

from eod.accounts.transitions import UnknownUser, current_state, transition
from eod.admin.codegen import stubs
from eod.business_date import parse_date
from eod.close.status import close_status
from eod.db import transaction
from eod.errors import ConfigError, EodError, first_line

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
    """GetEODStatus's answer, from the close's one status query."""
    (day,) = close_status(database_url, [business_date])
    steps = [
        pb2.StepStatus(
            step_name=s.step_name,
            status=s.status,
            attempts=s.attempts,
            started_at=s.started_at.isoformat() if s.started_at else "",
            finished_at=s.finished_at.isoformat() if s.finished_at else "",
            detail_json=json.dumps(s.detail, sort_keys=True, default=str),
        )
        for s in day.steps
    ]
    return pb2.EODStatus(
        business_date=business_date.isoformat(),
        closed=day.closed,
        broken_checks=day.broken_checks,
        steps=steps,
    )


def break_message(found):
    """A break record as the proto's Break: dates ISO, the difference a decimal string."""
    values = found.as_json()
    nullable = ("user_id", "currency", "difference")
    optional = {k: values[k] for k in nullable if values[k] is not None}
    text = {
        k: values[k] or ""
        for k in (
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution",
        )
    }
    return pb2.Break(
        break_id=found.break_id,
        check_name=found.check_name,
        first_date=values["first_date"],
        last_date=values["last_date"],
        status=found.status,
        opened_at=values["opened_at"],
        **optional,
        **text,
    )


@contextlib.contextmanager
def _break_errors(context):
    """An unknown break is NOT_FOUND, a break or account that does not allow the
    action FAILED_PRECONDITION, any other refusal (a missing name or reason, the
    actor `eod`) INVALID_ARGUMENT; each with the one-line reason."""
    from eod.breaks.actions import BreakNotFound, BreakRefused

    try:
        yield
    except BreakNotFound as exc:
        context.abort(grpc.StatusCode.NOT_FOUND, first_line(exc))
    except BreakRefused as exc:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, first_line(exc))
    except EodError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, first_line(exc))


class AdminService(pb2_grpc.AdminServiceServicer):
    def __init__(self, database_url: str):
        self.database_url = database_url

    def _date(self, text: str, context) -> date:
        try:
            return parse_date(text, "business_date")
        except EodError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def RunEOD(self, request, context):  # noqa: N802 - gRPC method name
        """What `eod close` does: refuse without real external systems, close D with
        catch-up; a failed run is FAILED_PRECONDITION naming the step and reason, a
        close that lost its leadership meanwhile ABORTED."""
        from flows.service import run_close

        day = self._date(request.business_date, context)
        try:
            outcome = run_close(day)
        except EodError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if outcome.deposed:
            context.abort(grpc.StatusCode.ABORTED, f"close stopped: {outcome.deposed}")
        if outcome.failure:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"close failed: {outcome.failure}")
        return eod_status(self.database_url, day)

    def GetEODStatus(self, request, context):  # noqa: N802
        return eod_status(self.database_url, self._date(request.business_date, context))

    def TransitionAccount(self, request, context):  # noqa: N802
        try:
            with transaction(self.database_url) as conn, conn.cursor() as cur:
                from_state = current_state(cur, request.user_id, lock=True)
                record = transition(
                    cur, request.user_id, request.to_state, request.actor, request.reason
                )
        except UnknownUser as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except EodError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, first_line(exc))
        return pb2.TransitionAccountResponse(
            user_id=request.user_id,
            from_state=from_state,
            to_state=record.to_state,
            transition_id=record.transition_id,
        )

    def ListBreaks(self, request, context):  # noqa: N802
        from eod.breaks.actions import list_breaks

        day = self._date(request.business_date, context) if request.business_date else None
        try:
            with transaction(self.database_url) as conn, conn.cursor() as cur:
                found = list_breaks(
                    cur,
                    status=request.status or None,
                    business_date=day,
                    check=request.check_name or None,
                )
        except EodError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, first_line(exc))
        return pb2.ListBreaksResponse(breaks=[break_message(b) for b in found])

    def AcknowledgeBreak(self, request, context):  # noqa: N802
        from eod.breaks.actions import acknowledge

        with _break_errors(context), transaction(self.database_url) as conn, conn.cursor() as cur:
            found = acknowledge(cur, request.break_id, request.actor, request.note)
        return break_message(found)

    def ResolveBreak(self, request, context):  # noqa: N802
        from eod.breaks.actions import resolve

        with _break_errors(context), transaction(self.database_url) as conn, conn.cursor() as cur:
            outcome = resolve(
                cur, request.break_id, request.actor, request.reason, restore=request.restore
            )
        return pb2.ResolveBreakResponse(
            resolved=break_message(outcome.resolved),
            restored=outcome.restored is not None,
            transition_id=outcome.restored.transition_id if outcome.restored else 0,
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
