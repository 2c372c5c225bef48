"""The chaos run's exchange, its reference close, and a clean copy for each scenario.

On a private Postgres and a private nats-server (eod.devkit.chaos.services), a small
exchange is generated (by default 300 users, 3 days, two users' engine balances
drifting on the last day, so its close freezes and pages). Every date but the last
is closed, and that database becomes the template. The last date's clean close, on
a copy of the template, is the reference. Each scenario closes the last date again
on a fresh copy, with its faults, re-runs the close, and is compared with the
reference (eod.devkit.chaos.compare).

Every close runs on a database of the same name (`eod_chaos_run`), so dbt parses the
project once for the whole run, and a close in a child process reuses the parse and
the Prefect API server of this one.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg2

from eod.config import PROJECT_DIR, Settings
from eod.db import connect
from eod.devkit.chaos import compare
from eod.devkit.chaos.services import PrivateNats, PrivatePostgres
from eod.devkit.generate import Options, generate
from eod.devkit.simulators import start_simulators
from eod.devkit.simulators.pager import PagerSimulator
from eod.migrations import migrate

TEMPLATE = "eod_chaos_template"
RUN = "eod_chaos_run"
POR_SECRET = "chaos-por-secret"
ROUTING_KEY = "chaos-routing-key"
START = date(2026, 11, 1)
CHILD_TIMEOUT_S = 300


@dataclass
class ExchangeShape:
    users: int = 300
    days: int = 3
    trades_per_day: int = 300
    seed: int = 11
    drifting_users: int = 2  # on the last day: frozen and paged for


@dataclass
class ChildRun:
    returncode: int
    struck: str | None
    output: str


@dataclass
class Harness:
    shape: ExchangeShape = field(default_factory=ExchangeShape)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="eod-chaos-")))
    postgres: PrivatePostgres | None = None
    nats: PrivateNats | None = None
    sims: object = None
    pager: PagerSimulator | None = None
    dates: list[date] = field(default_factory=list)
    reference: compare.Fingerprint | None = None
    outbox_start: int = 0
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _children: int = 0
    _server: subprocess.Popen | None = None
    _pending: bytes = b""
    _ready: bool = False

    # -- set-up ------------------------------------------------------------------------

    @property
    def day(self) -> date:
        """The date every scenario closes."""
        return self.dates[-1]

    @property
    def run_url(self) -> str:
        return self.postgres.database_url(RUN)

    def setup(self) -> None:
        """Services, the generated exchange closed up to its last date, and the
        reference close of that date."""
        self.postgres = PrivatePostgres(self.workdir / "postgres")
        self.postgres.start()
        self.nats = PrivateNats(self.workdir / "nats")
        self.nats.start()
        self._admin(f'create database "{RUN}"')
        migrate(self.run_url)
        opts = Options(
            seed=self.shape.seed,
            users=self.shape.users,
            days=self.shape.days,
            trades_per_day=self.shape.trades_per_day,
            start=START,
            cutover=Settings.from_env().cutover,
            registry_days=self.shape.days,
            break_ledger=self.shape.drifting_users,
        )
        generate(self.run_url, opts)
        self.dates = opts.dates
        # the simulators read the database of every scenario: always named RUN
        self.sims = start_simulators(self.run_url)
        self.pager = PagerSimulator().start()
        self._environment()
        from flows.service import run_close

        for day in self.dates[:-1]:
            report = run_close(day)
            if report.exit_code != 0:
                raise RuntimeError(f"the chaos exchange's {day} did not close: {report.lines()}")
        self._quiesce(RUN)
        self._admin(f'create database "{TEMPLATE}" template "{RUN}"')
        self._forkserver(wait=False)  # it starts up while the reference closes
        self.outbox_start = compare.outbox_position(self.run_url)
        self.fresh_copy()
        report = run_close(self.day)
        if report.failure or report.exit_code != 1:  # the drifting users break the check
            raise RuntimeError(f"the reference close of {self.day} failed: {report.lines()}")
        self.reference = self.fingerprint()

    def _environment(self) -> None:
        values = {
            **self.sims.environment(),
            "EOD_DATABASE_URL": self.run_url,
            "NATS_URL": self.nats.url,
            "EOD_PAGER_URL": self.pager.url,
            "EOD_PAGER_ROUTING_KEY": ROUTING_KEY,
            "EOD_POR_SECRET": POR_SECRET,
            "EOD_POR_WORKERS": "1",  # trees of a few hundred leaves: no worker processes
            "EOD_STATE_DIR": str(self.workdir / "state"),
            "EOD_DBT_TARGET_PATH": str(self.workdir / "dbt-target"),
        }
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def teardown(self) -> None:
        if self._server is not None:
            self._server.stdin.close()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.pager is not None:
            self.pager.stop()
        if self.sims is not None:
            self.sims.stop()
        if self.nats is not None:
            self.nats.remove()
        if self.postgres is not None:
            self.postgres.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- per scenario ------------------------------------------------------------------

    def _admin(self, sql: str) -> None:
        conn = psycopg2.connect(self.postgres.url, application_name="eod-chaos")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def _quiesce(self, database: str) -> None:
        """No session left on `database` (a template must have none)."""
        self._admin(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            f"where datname = '{database}' and pid <> pg_backend_pid()"
        )

    def fresh_copy(self) -> None:
        """The run database as the template left it; no events, no pages, no faults."""
        self._admin(f'drop database if exists "{RUN}" with (force)')
        self._quiesce(TEMPLATE)
        self._admin(f'create database "{RUN}" template "{TEMPLATE}"')
        self.nats.start()
        self.nats.reset_stream()
        self.sims.custody_fault = None
        self.sims.rpc_fault = None
        self.pager.mode = "up"
        self.pager.observe = None
        self.pager.events.clear()
        self.pager.attempts.clear()

    def close_here(self) -> tuple[int, str | None]:
        """Close the scenario's date in this process: (exit status, failure)."""
        from flows.service import run_close

        try:
            report = run_close(self.day)
        except Exception as exc:  # a crash of the services may surface from anywhere
            return 2, f"{type(exc).__name__}: {exc}"
        return report.exit_code, report.failure

    def _forkserver(self, wait: bool = True) -> subprocess.Popen:
        """The process that forks the child closes (eod.devkit.chaos.forkserver),
        ready when `wait`."""
        if self._server is None:
            # dbt's target folder of its own (its builds run beside this process's),
            # starting from this one's partial parse
            target = self.workdir / "dbt-target-children"
            shutil.copytree(os.environ["EOD_DBT_TARGET_PATH"], target, dirs_exist_ok=True)
            env = dict(
                os.environ, PREFECT_API_URL=_prefect_api_url(), EOD_DBT_TARGET_PATH=str(target)
            )
            log = open(self.workdir / "forkserver.log", "ab")  # noqa: SIM115 - the server's
            self._server = subprocess.Popen(
                [sys.executable, "-m", "eod.devkit.chaos.forkserver"],
                env=env,
                cwd=PROJECT_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                bufsize=0,
            )
            self._ready = False
        if wait and not self._ready:
            ready = self._reply(CHILD_TIMEOUT_S)
            if "ready" not in ready:
                raise RuntimeError(f"the chaos fork server did not start: {ready}")
            self._ready = True
        return self._server

    def _reply(self, timeout_s: float) -> dict:
        """The fork server's next line (JSON), or {} when none came in time."""
        fd = self._server.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return {}
            chunk = os.read(fd, 4096)
            if not chunk:
                return {"error": "the chaos fork server exited"}
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def start_child(self, point: str | None, action: str = "kill") -> tuple[int, Path]:
        """A close of the scenario's date in a process of its own, struck at `point`
        (`kill`: SIGKILL there; `pause`: wait there for the signal file's `.go`)."""
        self._children += 1
        signal_file = self.workdir / f"strike-{self._children}"
        request = {
            "day": self.day.isoformat(),
            "point": point or "-",
            "action": action,
            "signal_file": str(signal_file),
            "log_file": str(self.workdir / f"child-{self._children}.log"),
        }
        server = self._forkserver()
        server.stdin.write((json.dumps(request) + "\n").encode())
        started = self._reply(CHILD_TIMEOUT_S)
        if "started" not in started:
            raise RuntimeError(f"the chaos fork server did not fork a close: {started}")
        return started["started"], signal_file

    def wait_child(self, timeout_s: float = CHILD_TIMEOUT_S) -> int | None:
        """The exit status of the running child close (minus the signal that ended it),
        None when it has not ended in time."""
        ended = self._reply(timeout_s)
        return ended.get("returncode")

    def close_in_child(self, point: str | None, action: str = "kill") -> ChildRun:
        pid, signal_file = self.start_child(point, action)
        code = self.wait_child()
        struck = signal_file.read_text() if signal_file.exists() else None
        return ChildRun(code, struck, "")

    def fingerprint(self) -> compare.Fingerprint:
        return compare.take(
            self.run_url, self.day, self.nats.messages(), self.pager.events, self.outbox_start
        )

    def differences(self) -> dict[str, str]:
        return compare.differences(self.reference, self.fingerprint())

    def fetch(self, sql: str, params=None) -> list[tuple]:
        conn = connect(self.run_url, application_name="eod-chaos")
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


def wait_for(path: Path, pid: int, timeout_s: float = CHILD_TIMEOUT_S) -> bool:
    """Until `path` exists (True) or process `pid` ends first (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if not Path(f"/proc/{pid}").exists():
            return path.exists()
        time.sleep(0.05)
    return False


def _prefect_api_url() -> str:
    """The API server of this process's Prefect (started by its first flow run)."""
    from prefect.server.api.server import SubprocessASGIServer

    for server in SubprocessASGIServer._instances.values():
        if server.running:
            return server.api_url
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise RuntimeError("no Prefect API server is running in this process")
    return url
