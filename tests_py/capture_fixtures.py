"""A minimal loopback stand-in for the matching engine, custody and JSON-RPC, speaking
the protocols of CONTRACT section 5, for the capture tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg2
import pytest

CURRENCIES = [("BTC", 8), ("ETH", 18), ("USDT", 6), ("QTRA", 18)]


@dataclass
class Upstream:
    """What the loopback server answers; tests change it between calls."""

    registry: dict[str, bytes] = field(default_factory=dict)  # as_of query value -> NDJSON body
    wallets: dict[tuple[str, str], object] = field(default_factory=dict)  # (coin, id) -> reply
    token: str = "s3cret-token"
    rpc_reply: object = None  # the reply to eth_call (its id is set to the request's)
    # The chain the JSON-RPC side serves: block n is stamped block_times[n] (Unix seconds),
    # the last one is the head; eth_call answers rpc_reply whatever its block.
    block_times: list[int] = field(default_factory=list)
    status_queue: list[int] = field(default_factory=list)  # next replies' forced statuses
    requests: list[tuple[str, str, dict]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forced(self) -> bool:
        if self.upstream.status_queue:
            self._send(self.upstream.status_queue.pop(0), b'{"error":"forced"}')
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802
        up = self.upstream
        url = urlparse(self.path)
        up.requests.append(("GET", self.path, dict(self.headers)))
        if self._forced():
            return
        if url.path == "/v1/registry/snapshot":
            as_of = parse_qs(url.query).get("as_of", [""])[0]
            body = up.registry.get(as_of)
            if body is None:
                self._send(404, b'{"error":"no snapshot"}')
            else:
                self._send(200, body, "application/x-ndjson")
            return
        parts = url.path.strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["api", "v2"] and parts[3] == "wallet":
            if self.headers.get("Authorization") != f"Bearer {up.token}":
                self._send(401, b'{"error":"unauthorized"}')
                return
            reply = up.wallets.get((parts[2], parts[4]))
            if reply is None:
                self._send(404, b'{"error":"no wallet"}')
            else:
                self._send(200, json.dumps(reply).encode())
            return
        self._send(404, b"{}")

    def do_POST(self) -> None:  # noqa: N802
        up = self.upstream
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        up.requests.append(("POST", self.path, body))
        if self._forced():
            return
        method, params = body.get("method"), body.get("params") or []
        if method == "eth_blockNumber":
            reply = {"result": hex(len(up.block_times) - 1)}
        elif method == "eth_getBlockByNumber":
            block = int(params[0], 16)
            found = 0 <= block < len(up.block_times)
            timestamp = up.block_times[block] if found else None
            reply = {
                "result": {"number": params[0], "timestamp": hex(timestamp)} if found else None
            }
        else:
            reply = dict(up.rpc_reply or {})
        reply.setdefault("jsonrpc", "2.0")
        reply["id"] = body.get("id")
        self._send(200, json.dumps(reply).encode())


@pytest.fixture(name="upstream")
def upstream_server():
    """(Upstream, base URL) of a loopback server speaking the three protocols."""
    state = Upstream()
    handler = type("Handler", (_Handler,), {"upstream": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def seed_currencies(db_url: str) -> None:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.currencies (currency, decimals) values (%s, %s)"
            " on conflict do nothing",
            CURRENCIES,
        )
    conn.close()


KNOWN_USERS = range(1, 100)  # the users the platform knows in the capture tests


def seed_users(db_url: str, user_ids=KNOWN_USERS) -> None:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.users (user_id, status) values (%s, 'active')"
            " on conflict do nothing",
            [(u,) for u in user_ids],
        )
    conn.close()


def ndjson(as_of: str, sequence, rows: list) -> bytes:
    lines = [json.dumps({"as_of": as_of, "sequence": sequence})]
    lines += [r if isinstance(r, str) else json.dumps(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def query(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()
