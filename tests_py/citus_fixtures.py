"""A local Citus cluster for the tests: a coordinator and two workers on free ports.

Citus comes from the machine (eod.citus.cluster.find_postgres). Where it is missing,
the session builds it once with `../shared/vendor/citus/build.sh` (this checkout's
build of Citus 13.2.2 for Postgres 15), and skips the Citus tests, saying why, only
when that cannot be done.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from eod.citus.cluster import CitusNotInstalled, LocalCluster, find_postgres, free_port_block
from eod.migrations import migrate
from tests_py.conftest import PROJECT_DIR, RUN_ID

BUILD_SCRIPT = PROJECT_DIR.parent / "shared" / "vendor" / "citus" / "build.sh"


@functools.cache
def _citus_missing() -> str | None:
    """Why the Citus tests cannot run, or None; builds Citus (once) when it is missing."""
    try:
        find_postgres()
        return None
    except CitusNotInstalled as missing:
        if not BUILD_SCRIPT.exists():
            return f"{missing} (and no {BUILD_SCRIPT} to build it)"
        reason = str(missing)
    try:
        built = subprocess.run(
            [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1200, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{reason}; {BUILD_SCRIPT} did not run: {exc}"
    if built.returncode != 0:
        tail = (built.stderr or built.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"{reason}; {BUILD_SCRIPT} failed: {tail[0]}"
    try:
        find_postgres()
    except CitusNotInstalled as still:
        return f"{still} after {BUILD_SCRIPT}"
    return None


def _citus_or_skip() -> None:
    missing = _citus_missing()
    if missing:
        pytest.skip(f"Citus tests skipped: {missing}")


@contextlib.contextmanager
def state_dir():
    """A state folder for a cluster. Not under pytest's temporary root: run as root, the
    nodes run as `postgres`, which must reach their folders, and pytest keeps its root
    private to its user."""
    path = Path(tempfile.mkdtemp(prefix="eod-citus-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def citus_cluster():
    """A running local cluster for the session (its own state folder and ports)."""
    _citus_or_skip()
    with state_dir() as state:
        cluster = LocalCluster(state, free_port_block())
        try:
            cluster.up()
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.down(delete=True)


@pytest.fixture
def citus_db_url(citus_cluster):
    """A fresh database on the cluster, Citus in it on every node, migrated."""
    name = f"eod_citus_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = citus_cluster.create_database(name)
    migrate(url)
    yield url
    with contextlib.suppress(Exception):
        citus_cluster.drop_database(name)
