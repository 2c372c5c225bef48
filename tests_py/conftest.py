"""Shared fixtures: real Postgres and NATS.

The machine's services are used when they answer (EOD_DATABASE_URL / NATS_URL, or
Postgres on 127.0.0.1:5432 and NATS on 127.0.0.1:4222); otherwise the embedded
ones start, so the suite also passes on a laptop with neither. EOD_TEST_SERVICES=embedded
uses the embedded ones even where the machine has its own (to check that path). Each test that asks
for `db_url` gets a database of its own, cloned from a migrated template.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from eod import embedded
from eod.config import apply_prefect_defaults
from eod.db import with_database
from eod.migrations import migrate

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Prefect reads its settings at import; the flows under test run on its ephemeral server.
apply_prefect_defaults()
RUN_ID = uuid.uuid4().hex[:8]


def _force_embedded() -> bool:
    return os.environ.get("EOD_TEST_SERVICES") == "embedded"


def _pg_reachable(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
        return True
    return False


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    """A URL of a Postgres server (its maintenance database) the tests may create databases on."""
    if _force_embedded():
        return embedded.start_postgres(tmp_path_factory.mktemp("embedded-pg"))
    for url in (
        os.environ.get("EOD_DATABASE_URL"),
        "postgresql://postgres@127.0.0.1:5432/postgres",
    ):
        if url and _pg_reachable(url):
            return url
    return embedded.start_postgres(tmp_path_factory.mktemp("embedded-pg"))


@contextlib.contextmanager
def _admin(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def template_db(pg_server_url) -> str:
    """A migrated database that per-test databases are cloned from."""
    name = f"eod_tpl_{RUN_ID}"
    with _admin(pg_server_url) as conn, conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    migrate(with_database(pg_server_url, name))
    yield name
    with _admin(pg_server_url) as conn, conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')


def create_database(pg_server_url: str, template: str | None = None) -> str:
    name = f"eod_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    clause = f' template "{template}"' if template else ""
    with _admin(pg_server_url) as conn, conn.cursor() as cur:
        cur.execute(f'create database "{name}"{clause}')
    return name


def drop_database(pg_server_url: str, name: str) -> None:
    with _admin(pg_server_url) as conn, conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db_url(pg_server_url, template_db) -> str:
    """A fresh, migrated database for one test."""
    name = create_database(pg_server_url, template_db)
    yield with_database(pg_server_url, name)
    drop_database(pg_server_url, name)


@pytest.fixture
def empty_db_url(pg_server_url) -> str:
    """A fresh database with nothing in it (for migration tests)."""
    name = create_database(pg_server_url)
    yield with_database(pg_server_url, name)
    drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory) -> str:
    if _force_embedded():
        return embedded.start_nats(tmp_path_factory.mktemp("embedded-nats"))
    url = os.environ.get("NATS_URL")
    if url:
        return url
    if _port_open("127.0.0.1", 4222):
        return "nats://127.0.0.1:4222"
    return embedded.start_nats(tmp_path_factory.mktemp("embedded-nats"))


@pytest.fixture
def eod_env(db_url, nats_url, tmp_path) -> dict[str, str]:
    """Environment for running the `eod` CLI against this test's database."""
    env = dict(os.environ)
    env.update(
        EOD_DATABASE_URL=db_url,
        NATS_URL=nats_url,
        EOD_STATE_DIR=str(tmp_path / "state"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def run_eod(args: list[str], env: dict[str, str], check: bool = True, timeout: float = 600):
    """Run the CLI as a user would, in a subprocess; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "eod.cli", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"eod {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def pytest_sessionfinish(session, exitstatus):
    """Stop Prefect's ephemeral API server quietly before pytest closes its output: left
    to its own exit hook, it logs its stop into a stream pytest has closed (and to the
    API it is stopping), and a "Logging error" traceback ends every run."""
    server = sys.modules.get("prefect.server.api.server")
    if server is not None:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the flow runs' logs, while the API is up
        server.subprocess_server_logger.setLevel(logging.WARNING)
        for instance in list(server.SubprocessASGIServer._instances.values()):
            instance.stop()
