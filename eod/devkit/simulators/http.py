"""Small HTTP plumbing shared by the simulators (standard library only)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eod.devkit.simulators.faults import send_faulty
from eod.devkit.simulators.state import SimState

log = logging.getLogger("eod.devkit.simulators")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, state: SimState, **extra):
        super().__init__(address, handler)
        self.state = state
        self.extra = extra

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.serve_forever, name=f"sim-{self.server_address[1]}", daemon=True
        )
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base's name
        log.debug("%s %s", self.address_string(), format % args)

    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json_or_fault(self, body: object, fault: str | None) -> None:
        """A 200 JSON reply, or the wire fault (eod.devkit.simulators.faults) given."""
        if fault is None:
            self.send_json(200, body)
            return
        try:
            send_faulty(self, fault, json.dumps(body).encode())
        except (BrokenPipeError, ConnectionResetError):
            log.info("%s: client went away during a %s fault", type(self).__name__, fault)

    def send_error_json(self, status: int, message: str, name: str | None = None) -> None:
        body = {"error": message}
        if name:
            body["name"] = name
        self.send_json(status, body)

    def start_chunked(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
