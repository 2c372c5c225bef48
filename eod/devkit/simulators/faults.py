"""Faults on the wire that the simulators inject into a reply, for the captures' tests.

- `drop`: the connection is closed without a reply;
- `truncated`: a reply whose body stops half-way through its Content-Length;
- `stall`: no reply at all for STALL_S seconds (longer than a test's client timeout);
- `malformed`: a 200 whose body is not JSON (a proxy's error page);
- `500`: an HTTP 500 (the service's own error).
"""

from __future__ import annotations

import time

from eod.errors import InputError

REPLY_FAULTS = ("drop", "truncated", "stall", "malformed", "500")
STALL_S = 3.0
MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def checked(fault: str | None, allowed: tuple[str, ...], system: str) -> str | None:
    if fault is not None and fault not in allowed:
        raise InputError(f"{system} fault must be one of {', '.join(allowed)}, got {fault!r}")
    return fault


def send_faulty(handler, fault: str, body: bytes) -> None:
    """Answer `handler`'s request with `fault` instead of `body` (a 200 JSON reply)."""
    handler.close_connection = True
    if fault == "drop":
        return
    if fault == "stall":
        time.sleep(STALL_S)
        return
    if fault == "500":
        handler.send_error_json(500, "internal server error (simulated)", "InternalError")
        return
    if fault == "malformed":
        body, content_type, length = MALFORMED_BODY, "text/html", len(MALFORMED_BODY)
    else:  # truncated
        content_type, length = "application/json", len(body)
        body = body[: len(body) // 2]
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
