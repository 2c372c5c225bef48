"""Running dbt against the configured (or embedded) database."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from eod.config import PROJECT_DIR
from eod.db import connect, libpq_env

DBT_PGOPTIONS = "-c work_mem=256MB"


def prepare_env(database_url: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for dbt: libpq variables for profiles.yml, project-local profile and logs."""
    env = dict(os.environ if env is None else env)
    env.update(libpq_env(database_url))
    # A day's models sort and hash millions of trade legs and balances; Postgres's
    # default 4MB work_mem spills those to disk. libpq applies PGOPTIONS to every
    # connection dbt opens, tests' included.
    env.setdefault("PGOPTIONS", DBT_PGOPTIONS)
    env.setdefault("DBT_PROFILES_DIR", str(profiles_dir()))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def profiles_dir() -> Path:
    """The project root, with profiles.yml copied from profiles.example.yml when missing."""
    profile = PROJECT_DIR / "profiles.yml"
    if not profile.exists():
        shutil.copyfile(PROJECT_DIR / "profiles.example.yml", profile)
    return PROJECT_DIR


@contextlib.contextmanager
def in_project() -> Iterator[None]:
    """dbt resolves the project from the working directory: run it from the root."""
    cwd = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        yield
    finally:
        os.chdir(cwd)


# The models learn whether D is the first date of the close chain from this var
# (macros/is_first_close), never from a query while dbt parses or compiles.
FIRST_DATE_VAR = "first_business_date"


def chain_first_date(database_url: str, business_date: date) -> date:
    """The first date of the close chain D belongs to, the `first_business_date` var of
    D's build: the earliest date the close ran for (eod.eod_runs, where catch-up starts)
    or dbt built (intermediate.int_business_dates_windowed), or D itself when none is
    earlier (nothing closed yet, or D before them all: D then starts the chain)."""
    conn = connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select to_regclass('eod.eod_runs') is not null,
                          to_regclass('intermediate.int_business_dates_windowed') is not null"""
            )
            runs, windows = cur.fetchone()
            earliest = [
                f"(select min(business_date) from {table})"
                for table, present in (
                    ("eod.eod_runs", runs),
                    ("intermediate.int_business_dates_windowed", windows),
                )
                if present
            ]
            found = None
            if earliest:
                cur.execute(f"select least({', '.join(earliest)})")
                found = cur.fetchone()[0]
    finally:
        conn.close()
    return min(found, business_date) if found else business_date


def with_first_business_date(args: list[str], database_url: str) -> list[str]:
    """`args` with the chain's first date added to `--vars` when they name a business
    date but no first date (as `eod dbt build --vars '{"business_date": "D"}'` does);
    unchanged otherwise, a malformed date included (the models say what is wrong)."""
    import yaml

    for i, arg in enumerate(args):
        if arg == "--vars" and i + 1 < len(args):
            at, text = i + 1, args[i + 1]
        elif arg.startswith("--vars="):
            at, text = i, arg.removeprefix("--vars=")
        else:
            continue
        try:
            given = yaml.safe_load(text)  # dbt reads --vars as YAML (JSON included)
            business_date = date.fromisoformat(str(given["business_date"]))
        except (yaml.YAMLError, TypeError, KeyError, ValueError):
            return args
        if given.get(FIRST_DATE_VAR) is not None:
            return args
        first = chain_first_date(database_url, business_date).isoformat()
        value = json.dumps({**given, FIRST_DATE_VAR: first}, default=str)
        return [*args[:at], value if at == i + 1 else f"--vars={value}", *args[at + 1 :]]
    return args


CITUS_VAR = "citus"


def warehouse_is_citus(database_url: str) -> bool:
    """Whether the warehouse is a Citus coordinator: the models then take their
    per-shard forms (the var `citus`)."""
    from eod.citus.layout import citus_enabled

    conn = connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            return citus_enabled(cur)
    finally:
        conn.close()


def with_citus(args: list[str], database_url: str) -> list[str]:
    """`args` with `citus: true` added to `--vars` when the warehouse is a Citus
    coordinator and they do not say; unchanged otherwise."""
    import yaml

    for i, arg in enumerate(args):
        if arg == "--vars" and i + 1 < len(args):
            at, text = i + 1, args[i + 1]
        elif arg.startswith("--vars="):
            at, text = i, arg.removeprefix("--vars=")
        else:
            continue
        try:
            given = yaml.safe_load(text)
        except yaml.YAMLError:
            return args
        if not isinstance(given, dict) or CITUS_VAR in given:
            return args
        if not warehouse_is_citus(database_url):
            return args
        value = json.dumps({**given, CITUS_VAR: True}, default=str)
        return [*args[:at], value if at == i + 1 else f"--vars={value}", *args[at + 1 :]]
    return args


def invoke(args: list[str], database_url: str) -> bool:
    """Run dbt in this process with dbt's programmatic runner; True when it succeeded.
    A business date given in `--vars` gets the chain's first date beside it, and on a
    Citus coordinator the var `citus`."""
    from dbt.cli.main import dbtRunner

    args = with_citus(with_first_business_date(args, database_url), database_url)
    os.environ.update(prepare_env(database_url))
    with in_project():
        result = dbtRunner().invoke(args)
    return bool(result.success)


# dbt re-parses the whole project whenever --vars change, and every business date is a
# new value: a close (or a catch-up over many dates) parses once per process instead,
# and hands the parsed manifest to each invocation. Models read var('business_date')
# when they are compiled, which happens per invocation with that invocation's vars.
_PARSE_VARS = '{"business_date": "1970-01-01"}'
_manifests: dict[tuple, object] = {}
_parsing = threading.Lock()  # one parse at a time; a caller waits for one under way


def parsed_runner(database_url: str, target_path: str, callbacks=None):
    """A dbtRunner with this project's manifest parsed once per (database, target path)."""
    from dbt.cli.main import dbtRunner

    env = prepare_env(database_url)
    os.environ.update(env)
    key = (env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGUSER"], target_path)
    with _parsing:
        if key not in _manifests:
            with in_project():
                parsed = dbtRunner().invoke(
                    ["--quiet", "parse", "--vars", _PARSE_VARS, "--target-path", target_path]
                )
            if not parsed.success:
                from eod.errors import EodError

                raise EodError(f"dbt could not parse the project: {parsed.exception}")
            _manifests[key] = parsed.result
    return dbtRunner(manifest=_manifests[key], callbacks=callbacks or [])


def parse_in_background(database_url: str, target_path: str) -> threading.Thread:
    """Import dbt and parse the project in a thread, for a `parsed_runner` soon after.

    The close starts this before Prefect starts its API server, which takes seconds in
    a process of its own: the parse (seconds of this process's CPU) is then done by the
    time the first build needs it instead of on the close's critical path. A failure
    is left to that build to raise, with its message."""

    def parse() -> None:
        with contextlib.suppress(Exception):
            parsed_runner(database_url, target_path)

    thread = threading.Thread(target=parse, name="dbt-parse", daemon=True)
    thread.start()
    return thread
