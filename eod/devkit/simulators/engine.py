"""Matching-engine simulator: `GET /v1/registry/snapshot?as_of=...` as streamed NDJSON."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

from eod.devkit.simulators.faults import STALL_S
from eod.devkit.simulators.http import Handler, log
from eod.devkit.simulators.registry import (
    BadAsOf,
    resolve_as_of,
    snapshot_blocks,
    snapshot_header,
    snapshot_lines,
)
from eod.devkit.simulators.state import NotGenerated

CHUNK_BYTES = 64 * 1024
TRUNCATED_LINES = 10  # balance lines sent whole before a `truncated` reply stops


class EngineHandler(Handler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        if url.path != "/v1/registry/snapshot":
            self.send_error_json(404, f"no such endpoint: {url.path}")
            return
        as_of_text = (parse_qs(url.query).get("as_of") or [None])[-1]
        state = self.server.state
        conn = state.connect()
        try:
            try:
                business_date, as_of = resolve_as_of(as_of_text, state.generation(conn).cutover)
                snapshot_header(conn, business_date)
            except BadAsOf as exc:
                self.send_error_json(400, str(exc))
                return
            except NotGenerated as exc:
                self.send_error_json(404, str(exc))
                return
            fault = state.me_fault
            if fault == "drop":  # closed without a reply
                self.close_connection = True
                return
            state.snapshot_served(as_of)
            self.start_chunked(200, "application/x-ndjson")
            header = snapshot_header(conn, business_date)
            if fault == "sequence-back":
                header["sequence"] = previous_sequence(conn, business_date) - 1
            head = json.dumps(header).encode() + b"\n"
            if fault in ("empty", "stall", "truncated"):
                self._header_then(fault, head, conn, business_date, as_of)
                return
            if fault in (None, "sequence-back"):
                self.write_chunk(head)
                snapshot_blocks(conn, business_date, as_of, self.write_chunk, CHUNK_BYTES)
                self.end_chunked()
                return
            buffer: list[bytes] = []
            size = 0
            for line in snapshot_lines(conn, business_date, as_of, fault):
                data = line.encode()
                buffer.append(data)
                size += len(data)
                if size >= CHUNK_BYTES:
                    self.write_chunk(b"".join(buffer))
                    buffer, size = [], 0
            self.write_chunk(b"".join(buffer))
            self.end_chunked()
        except (BrokenPipeError, ConnectionResetError):
            log.info("engine snapshot: client went away")
        finally:
            conn.close()

    def _header_then(self, fault: str, head: bytes, conn, business_date, as_of) -> None:
        """The header, then: nothing (`empty`), silence (`stall`), or TRUNCATED_LINES
        lines and a chunk that stops half-way as the connection closes (`truncated`)."""
        if fault == "empty":
            self.write_chunk(head)
            self.end_chunked()
            return
        if fault == "stall":
            self.write_chunk(head)
            self.wfile.flush()
            time.sleep(STALL_S)
            self.close_connection = True
            return
        lines = snapshot_lines(conn, business_date, as_of)
        next(lines)  # the header, written above
        rows = b"".join(next(lines).encode() for _ in range(TRUNCATED_LINES))
        self.write_chunk(head + rows)
        partial = b'{"user_id": 1, "curr'
        self.wfile.write(b"%x\r\n%s" % (len(partial) * 5, partial))
        self.wfile.flush()
        self.close_connection = True


def previous_sequence(conn, business_date) -> int:
    """The sequence of the stored registry before D's (0 when there is none)."""
    with conn.cursor() as cur:
        cur.execute(
            """select sequence from sim.me_snapshots where business_date < %s
               order by business_date desc limit 1""",
            (business_date,),
        )
        row = cur.fetchone()
    return row[0] if row else 0
