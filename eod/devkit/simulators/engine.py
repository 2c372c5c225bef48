"""Matching-engine simulator: `GET /v1/registry/snapshot?as_of=...` as streamed NDJSON."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

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
            state.snapshot_served(as_of)
            self.start_chunked(200, "application/x-ndjson")
            fault = state.me_fault
            if fault is None:
                header = snapshot_header(conn, business_date)
                self.write_chunk(json.dumps(header).encode() + b"\n")
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
