"""`eod db migrate`: create or upgrade the platform and close schemas."""

from __future__ import annotations

from eod.context import Context
from eod.migrations import migrate


def register(subparsers) -> None:
    db = subparsers.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    mig = db_sub.add_parser("migrate", help="apply pending migrations (idempotent)")
    mig.set_defaults(handler=_migrate)


def _migrate(args) -> int:
    applied = migrate(Context().database_url)
    if applied:
        print("applied: " + ", ".join(applied))
    else:
        print("database is up to date")
    return 0
