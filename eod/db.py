"""Connections to the platform and warehouse Postgres."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import psycopg2
import psycopg2.extensions

from eod.errors import ServiceError, first_line

# The application_name of new connections. The close sets it per step so that the
# step watchdog can find (and cancel) every query a timed-out step left running. It
# is per context (thread), because two steps may run side by side.
_application_name: contextvars.ContextVar[str] = contextvars.ContextVar(
    "eod_application_name", default="eod"
)


def set_application_name(name: str) -> None:
    _application_name.set(name)


def application_name() -> str:
    """The application_name this context's new connections carry."""
    return _application_name.get()


def connect(url: str, *, application_name: str | None = None, autocommit: bool = False):
    """A psycopg2 connection, or a one-line ServiceError saying why not."""
    application_name = application_name or _application_name.get()
    try:
        conn = psycopg2.connect(url, application_name=application_name, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        first = first_line(str(exc), "unreachable")
        raise ServiceError(f"cannot connect to Postgres at {redact(url)}: {first}") from None
    conn.autocommit = autocommit
    return conn


@contextlib.contextmanager
def session(url: str, **kwargs) -> Iterator[psycopg2.extensions.connection]:
    """One connection, closed on exit; the caller manages its transactions (autocommit
    work, a rolled-back measurement, a commit followed by an ANALYZE)."""
    conn = connect(url, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(url: str, **kwargs) -> Iterator[psycopg2.extensions.connection]:
    """One connection, one transaction: committed on success, rolled back on error."""
    with session(url, **kwargs) as conn, conn:
        yield conn


def rows_as_dicts(cur, query: str, params=()) -> list[dict[str, Any]]:
    """Run a query on a cursor; its rows as dicts keyed by column name."""
    cur.execute(query, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fetch_all(url: str, query: str, params=()) -> list[tuple]:
    """A read-only query in a transaction of its own; its rows."""
    with transaction(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def libpq_env(url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for a URL (dbt's profile reads them)."""
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    env = {
        "PGHOST": query.get("host") or unquote(parsed.hostname or "") or "localhost",
        "PGPORT": str(query.get("port") or parsed.port or 5432),
        "PGUSER": unquote(parsed.username or "") or query.get("user") or "postgres",
        "PGPASSWORD": unquote(parsed.password or "") or query.get("password", ""),
        "PGDATABASE": (parsed.path or "/").lstrip("/") or query.get("dbname") or "postgres",
    }
    return env


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    parsed = urlparse(url)
    return parsed._replace(path="/" + database).geturl()
