"""Fixtures for the account-state machine, outbox and adjustment tests.

Helpers insert platform rows directly (inserting a user is not a transition), run
SQL as the owner or as the application role, and start a private nats-server from
the virtualenv that a test may stop and restart on the same store directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import nats
import psycopg2
import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
NATS_SERVER = PROJECT_DIR / ".venv" / "bin" / "nats-server"

CURRENCIES = {"BTC": 8, "ETH": 18, "USDT": 6}

# CONTRACT section 9, written out by hand: the seeds must say the same.
CONTRACT_STATES = {
    "pending_kyc": (False, False),
    "kyc_rejected": (False, False),
    "kyc_approved": (False, False),
    "active": (True, True),
    "suspended": (False, False),
    "restricted": (False, True),
    "closed": (False, False),
    "banned": (False, False),
}
CONTRACT_TRANSITIONS = {
    "pending_kyc": ["kyc_approved", "kyc_rejected", "banned"],
    "kyc_rejected": ["pending_kyc", "banned", "closed"],
    "kyc_approved": ["active", "suspended", "banned", "closed"],
    "active": ["suspended", "restricted", "closed", "banned"],
    "suspended": ["active", "restricted", "banned", "closed"],
    "restricted": ["active", "suspended", "banned", "closed"],
    "closed": [],
    "banned": [],
}
ALLOWED = [(src, dst) for src, dsts in CONTRACT_TRANSITIONS.items() for dst in dsts]


def expected_subject(src: str, dst: str) -> str:
    if dst == "active" and src in ("suspended", "restricted"):
        return "account.restored"
    return f"account.{dst}"


def connect(url: str, autocommit: bool = False):
    conn = psycopg2.connect(url)
    conn.autocommit = autocommit
    return conn


def setup_platform(url: str, users: dict[int, str]) -> None:
    """Currencies and users in the given states (no transitions recorded)."""
    with contextlib.closing(connect(url)) as conn, conn, conn.cursor() as cur:
        for currency, decimals in CURRENCIES.items():
            cur.execute(
                "insert into exchange.currencies values (%s, %s, 0) on conflict do nothing",
                (currency, decimals),
            )
        for user_id, status in users.items():
            cur.execute(
                "insert into exchange.users (user_id, status) values (%s, %s)", (user_id, status)
            )


def post_journal(url: str, user_id: int, currency: str, amount: str) -> None:
    """A balanced deposit-like journal giving the user `amount` (may be negative)."""
    with contextlib.closing(connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute("select gen_random_uuid()")
        journal = cur.fetchone()[0]
        cur.execute(
            """insert into exchange.ledger_entries (journal_id, user_id, account, currency,
                   amount, reference_type, reference_id, business_date, effective_at, created_by)
               values (%(j)s, %(u)s, 'user', %(c)s, %(a)s, 'deposit', %(j)s, current_date,
                       now(), 'test'),
                      (%(j)s, null, 'house:deposits', %(c)s, %(n)s, 'deposit', %(j)s,
                       current_date, now(), 'test')""",
            {
                "j": journal,
                "u": user_id,
                "c": currency,
                "a": Decimal(amount),
                "n": -Decimal(amount),
            },
        )


def status_of(url: str, user_id: int) -> str:
    with contextlib.closing(connect(url)) as conn, conn.cursor() as cur:
        cur.execute("select status::text from exchange.users where user_id = %s", (user_id,))
        return cur.fetchone()[0]


def fetch(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with contextlib.closing(connect(url)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NatsServer:
    """A nats-server with JetStream on a fixed port and store directory."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(NATS_SERVER),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
            self.proc = None


@pytest.fixture
def private_nats(tmp_path):
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


def stream_messages(nats_url: str, stream: str = "EOD_EVENTS") -> list[dict]:
    """Every message in a stream: subject, Nats-Msg-Id header and decoded payload."""

    async def read() -> list[dict]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                out.append(
                    {
                        "subject": msg.subject,
                        "msg_id": (msg.headers or {}).get("Nats-Msg-Id"),
                        "payload": json.loads(msg.data),
                    }
                )
            return out
        finally:
            await nc.close()

    return asyncio.run(read())
