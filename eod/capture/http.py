"""HTTP for the captures: GET and POST with retries only where a retry can help.

A dropped connection, a reply cut short, a timeout or a 5xx may be transient, so the
request is tried again a couple of times with backoff; a 4xx (401, 403, 404...) will
answer the same again and fails at once. Messages are one line, name the system and
say what went wrong on the wire in words (`fault`), never a bare library exception,
and never carry a credential.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from eod.errors import InputError, ServiceError

ATTEMPTS = 3
BACKOFF_S = 0.5
TIMEOUT_S = 30.0

# What a request can fail with on the wire, besides an HTTP status.
WIRE_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException)


def fault(exc: BaseException, timeout: float | None = None) -> str:
    """What went wrong on the wire, in words."""
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, http.client.IncompleteRead):
        if exc.expected:
            return (
                f"the reply was cut short ({len(exc.partial)} bytes read,"
                f" {exc.expected} more expected)"
            )
        return "the reply was cut short (the connection closed in the middle of it)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection was closed before a reply"
    if isinstance(exc, TimeoutError):
        return f"nothing received for {timeout:g} s (timed out)" if timeout else "timed out"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, http.client.LineTooLong):
        return "a malformed HTTP reply (a header line too long)"
    if isinstance(exc, http.client.HTTPException):
        return f"a malformed HTTP reply ({type(exc).__name__})"
    text = str(getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def open_url(
    url: str,
    what: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: float | None = None,
):
    """An open response (a file-like to read or stream), or a one-line ServiceError.

    `what` names the system in messages ("matching engine", "custody"...).
    """
    return _with_retries(url, what, headers, data, timeout, read=False)


def _with_retries(url, what, headers, data, timeout, *, read: bool):
    timeout = TIMEOUT_S if timeout is None else timeout
    last = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url, data=data, headers=dict(headers or {}), method="POST" if data else "GET"
        )
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
            if not read:
                return response
            with response:
                return response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500:
                hint = " (check the token)" if exc.code in (401, 403) else ""
                raise ServiceError(f"{what} answered HTTP {exc.code} for {url}{hint}") from None
            last = f"HTTP {exc.code}"
        except WIRE_ERRORS as exc:
            last = fault(exc, timeout)
    raise ServiceError(f"{what} failed after {ATTEMPTS} tries for {url}: {last}")


def _json(body: bytes, url: str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise InputError(
            f"{what} answered something that is not JSON for {url} (a malformed reply)"
        ) from None


def get_json(url: str, what: str, *, headers: Mapping[str, str] | None = None) -> Any:
    """GET a JSON document (a reply cut short is tried again, as a dropped connection)."""
    return _json(_with_retries(url, what, headers, None, None, read=True), url, what)


def post_json(url: str, what: str, body: Any) -> Any:
    """POST a JSON body and read a JSON reply (JSON-RPC reads are idempotent: a reply
    cut short is tried again)."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return _json(_with_retries(url, what, headers, data, None, read=True), url, what)
