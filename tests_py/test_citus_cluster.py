"""`eod citus up|down|status`: a local cluster in one command, and its one-line refusals."""

from __future__ import annotations

import os
import socket
import stat

import psycopg2
import pytest

from tests_py.citus_fixtures import _citus_or_skip, free_port_block, state_dir
from tests_py.conftest import run_eod

pytestmark = pytest.mark.citus


@pytest.fixture
def citus_env():
    with state_dir() as state:
        yield {**os.environ, "EOD_STATE_DIR": str(state)}


def test_up_status_down(citus_env):
    _citus_or_skip()
    port = free_port_block()
    up = run_eod(["citus", "up", "--port", str(port)], citus_env)
    try:
        url = up.stdout.strip().splitlines()[-1]
        assert url == f"postgresql://postgres@127.0.0.1:{port}/eod"
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select extversion from pg_extension where extname = 'citus'")
            assert cur.fetchone()[0].startswith("13.")
            cur.execute(
                "select nodeport from pg_dist_node where shouldhaveshards order by nodeport"
            )
            assert [row[0] for row in cur.fetchall()] == [port + 1, port + 2]
        conn.close()
        # up again is a no-op that prints the same URL; status lists every node running
        again = run_eod(["citus", "up"], citus_env)
        assert again.stdout.strip().splitlines()[-1] == url
        status = run_eod(["citus", "status"], citus_env)
        lines = status.stdout.strip().splitlines()
        assert lines[-1] == url
        assert [line.split()[0] for line in lines[:3]] == ["coordinator", "worker1", "worker2"]
        assert all("running" in line for line in lines[:3])
    finally:
        down = run_eod(["citus", "down"], citus_env)
    assert "stopped" in down.stdout
    status = run_eod(["citus", "status"], citus_env, check=False)
    assert status.returncode == 1
    assert all("stopped" in line for line in status.stdout.strip().splitlines())
    run_eod(["citus", "down", "--delete"], citus_env)
    assert not (os.path.exists(os.path.join(citus_env["EOD_STATE_DIR"], "citus")))


def test_up_refuses_a_taken_port_in_one_line(citus_env):
    _citus_or_skip()
    port = free_port_block()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 2))
        taken.listen()
        proc = run_eod(["citus", "up", "--port", str(port)], citus_env, check=False)
    try:
        assert proc.returncode != 0
        assert proc.stderr.strip().splitlines() == [
            f"eod citus: port {port + 2} (worker2) is taken on 127.0.0.1: choose other "
            f"ports with `eod citus up --port N` (uses N, N+1, N+2)"
        ]
    finally:
        run_eod(["citus", "down", "--delete"], citus_env)


def test_up_says_how_to_get_citus_when_it_is_missing(citus_env, tmp_path):
    # a Postgres whose library folder has no citus.so
    fake = tmp_path / "pg_config"
    fake.write_text(f"#!/bin/sh\necho {tmp_path}/bin\necho {tmp_path}/lib\necho PostgreSQL 15.0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    proc = run_eod(["citus", "up"], {**citus_env, "EOD_CITUS_PG_CONFIG": str(fake)}, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"eod citus: Citus is not installed for PostgreSQL 15.0 ({tmp_path}/lib): install Citus"
    )
    assert "https://docs.citusdata.com" in lines[0]
