"""HTTP for the captures: GET and POST with retries only where a retry can help.

A connection error, a timeout or a 5xx may be transient, so it is tried again a
couple of times with backoff; a 4xx (401, 403, 404...) will answer the same again and
fails at once. Messages are one line and never carry a credential.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from eod.errors import InputError, ServiceError

ATTEMPTS = 3
BACKOFF_S = 0.5
TIMEOUT_S = 30.0


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
    timeout = TIMEOUT_S if timeout is None else timeout
    last = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url, data=data, headers=dict(headers or {}), method="POST" if data else "GET"
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500:
                hint = " (check the token)" if exc.code in (401, 403) else ""
                raise ServiceError(f"{what} answered HTTP {exc.code} for {url}{hint}") from None
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = _reason(exc)
    raise ServiceError(f"{what} failed after {ATTEMPTS} tries for {url}: {last}")


def get_json(url: str, what: str, *, headers: Mapping[str, str] | None = None) -> Any:
    """GET a JSON document."""
    with open_url(url, what, headers=headers) as response:
        try:
            body = response.read()
        except (TimeoutError, OSError) as exc:
            raise ServiceError(f"{what} reply from {url} broke off: {_reason(exc)}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise InputError(f"{what} answered something that is not JSON for {url}") from None


def post_json(url: str, what: str, body: Any) -> Any:
    """POST a JSON body and read a JSON reply."""
    data = json.dumps(body).encode()
    with open_url(url, what, data=data, headers={"Content-Type": "application/json"}) as response:
        try:
            reply = response.read()
        except (TimeoutError, OSError) as exc:
            raise ServiceError(f"{what} reply from {url} broke off: {_reason(exc)}") from None
    try:
        return json.loads(reply)
    except ValueError:
        raise InputError(f"{what} answered something that is not JSON for {url}") from None
