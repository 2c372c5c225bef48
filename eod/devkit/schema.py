"""The dev kit's own schema, applied when the dev kit runs (never by `eod db migrate`).

`schema.sql` creates the `sim` schema the simulators serve from and the partial
ledger index they find the close's credits through. `eod generate` applies it before
it loads, the simulators and the snapshot export before they read it, so that a
production database never holds any of it.

A database migrated while the product still carried this schema (its retired
migrations 0010 and 0011) already has it: applying it again changes nothing there.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from eod.db import transaction

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
_LOCK_KEY = 0x0E0D_0002  # advisory lock id of dev-kit schema changes (the migrator's is _0001)


@functools.cache
def _sql_and_marker() -> tuple[str, str]:
    sql = SCHEMA_SQL.read_text()
    return sql, f"eod dev kit schema {hashlib.sha256(sql.encode()).hexdigest()}"


def _statements(sql: str) -> list[str]:
    """schema.sql's statements (it has no dollar-quoted bodies: a `;` at a line's end
    ends a statement)."""
    return [part for part in re.split(r";[ \t]*(?:\n|$)", sql) if part.strip()]


def ensure_schema(cur) -> None:
    """Create whatever of the dev kit's schema is missing, in the caller's transaction.

    The `sim` schema's comment names the schema.sql it was built from: when it matches,
    this is one catalog lookup, with no lock taken and no DDL run (a simulator may
    connect as a role that could not run it). Otherwise the idempotent script runs
    under an advisory lock, so that two dev-kit processes starting together do not
    race to create the same objects.
    """
    sql, marker = _sql_and_marker()
    cur.execute("select obj_description(to_regnamespace('sim'), 'pg_namespace')")
    if cur.fetchone()[0] == marker:
        return
    cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    # One statement at a time: Citus propagates an index on a distributed table (the
    # ledger's) from its statement's text, which must then hold that statement alone.
    for statement in _statements(sql):
        cur.execute(statement)
    cur.execute("comment on schema sim is %s", (marker,))


def ensure_schema_at(database_url: str) -> None:
    """`ensure_schema` in a transaction of its own."""
    with (
        transaction(database_url, application_name="eod-devkit-schema") as conn,
        conn.cursor() as cur,
    ):
        ensure_schema(cur)
