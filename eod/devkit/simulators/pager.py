"""A PagerDuty Events API v2 stand-in on loopback, for the demo and the tests.

It accepts `POST /v2/enqueue`, checks the body the way PagerDuty does (400 with a list
of errors on a bad event, 202 with `{"status": "success", "dedup_key": ...}` otherwise)
and records every accepted event (`events`) and every request's body (`attempts`).
Faults: `fail_next(n, status)` makes the next n requests fail; `mode` makes every
request fail until it is set back to "up":

- "down": the connection is closed without an answer (the pager is unreachable);
- "slow": the answer comes after `slow_s` seconds (the event is accepted then);
- "500": every request gets HTTP 500.

    python -m eod.devkit.simulators.pager --port 8089 [--mode down|slow|500]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTIONS = ("trigger", "acknowledge", "resolve")
MODES = ("up", "down", "slow", "500")
SEVERITIES = ("critical", "error", "warning", "info")


def event_errors(body: Any) -> list[str]:
    """What PagerDuty would reject in an event body (empty when it is valid)."""
    if not isinstance(body, dict):
        return ["Event object must be a JSON object"]
    errors = []
    if not isinstance(body.get("routing_key"), str) or not body["routing_key"]:
        errors.append("'routing_key' is missing or blank")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    key = body.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return errors + ["'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict | list | str):
            errors.append("'payload.custom_details' must be an object")
    return errors


class PagerSimulator:
    """The server and what it received; use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, mode: str = "up") -> None:
        self.events: list[dict[str, Any]] = []
        self.attempts: list[Any] = []
        self.rejected: list[Any] = []
        self.mode = mode
        self.slow_s = 30.0
        # called with each request's body as it arrives, before any answer (what a
        # test checks while the pager holds a request)
        self.observe: Callable[[bytes], None] | None = None
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v2/enqueue"

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"pager mode must be one of {', '.join(MODES)}, got {mode!r}")
        self._mode = mode

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` requests get `status` without being recorded."""
        with self._lock:
            self._failures.extend([status] * count)

    def start(self) -> PagerSimulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PagerSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler(self):
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with sim._lock:
                    try:
                        sim.attempts.append(json.loads(raw))
                    except ValueError:
                        sim.attempts.append(raw)
                    failure = sim._failures.pop(0) if sim._failures else None
                if sim.observe is not None:
                    sim.observe(raw)
                if sim.mode == "down":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if sim.mode == "500":
                    failure = 500
                if sim.mode == "slow":
                    time.sleep(sim.slow_s)
                if failure:
                    self._reply(failure, {"status": "error", "message": "simulated failure"})
                    return
                if self.path.rstrip("/") != "/v2/enqueue":
                    self._reply(404, {"status": "error", "message": "not found"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                    errors = ["body is not JSON"]
                else:
                    errors = event_errors(body)
                if errors:
                    with sim._lock:
                        sim.rejected.append(body)
                    self._reply(
                        400,
                        {
                            "status": "invalid event",
                            "message": "Event object is invalid",
                            "errors": errors,
                        },
                    )
                    return
                key = body.get("dedup_key") or uuid.uuid4().hex
                with sim._lock:
                    sim.events.append(body)
                self._reply(
                    202, {"status": "success", "message": "Event processed", "dedup_key": key}
                )

        return Handler


def main() -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description="PagerDuty Events v2 simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--mode", choices=MODES, default="up")
    parser.add_argument("--slow-s", type=float, default=30.0, help="delay in mode slow")
    args = parser.parse_args()
    sim = PagerSimulator(args.host, args.port, args.mode)
    sim.slow_s = args.slow_s
    print(f"pager simulator listening on {sim.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim._server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
