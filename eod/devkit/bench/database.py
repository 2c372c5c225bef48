"""A benchmark's own database and dbt target directory, removed when it is done."""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eod.db import connect, with_database


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    target: str  # dbt's target directory for this benchmark's builds


@contextmanager
def bench_database(server_url: str, prefix: str, *, keep: bool = False) -> Iterator[BenchDatabase]:
    """A fresh database named `prefix_<random>` on the server; dropped on the way out
    (whatever happened inside) together with its dbt target directory, unless `keep`.

    A benchmark's exchange takes gigabytes: one left behind by each run would soon
    fill the disk."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    bench = BenchDatabase(name, with_database(server_url, name), f"/tmp/{name}-target")
    admin = connect(server_url, autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        try:
            yield bench
        finally:
            if keep:
                print(f"kept database {name} and {bench.target}", file=sys.stderr)
            else:
                with admin.cursor() as cur:
                    cur.execute(f'drop database if exists "{name}" with (force)')
                shutil.rmtree(bench.target, ignore_errors=True)
    finally:
        admin.close()
