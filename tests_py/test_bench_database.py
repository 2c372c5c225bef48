"""A benchmark's database and dbt target directory go when it ends, however it ends."""

from __future__ import annotations

import os

import psycopg2
import pytest

from eod.devkit.bench.database import bench_database
from tests_py.conftest import drop_database


def _exists(server_url: str, name: str) -> bool:
    with psycopg2.connect(server_url) as conn, conn.cursor() as cur:
        cur.execute("select exists (select from pg_database where datname = %s)", (name,))
        return cur.fetchone()[0]


def test_dropped_with_its_target_after_the_benchmark(pg_server_url):
    with bench_database(pg_server_url, "eod_bench_test") as bench:
        with psycopg2.connect(bench.url) as conn, conn.cursor() as cur:
            cur.execute("select current_database()")
            assert cur.fetchone()[0] == bench.name
        os.makedirs(bench.target)
    assert not _exists(pg_server_url, bench.name)
    assert not os.path.exists(bench.target)


def test_dropped_when_the_benchmark_fails(pg_server_url):
    with pytest.raises(RuntimeError), bench_database(pg_server_url, "eod_bench_test") as bench:
        raise RuntimeError("the benchmark broke")
    assert not _exists(pg_server_url, bench.name)


def test_kept_when_asked(pg_server_url, capsys):
    with bench_database(pg_server_url, "eod_bench_test", keep=True) as bench:
        pass
    try:
        assert _exists(pg_server_url, bench.name)
        assert f"kept database {bench.name}" in capsys.readouterr().err
    finally:
        drop_database(pg_server_url, bench.name)
