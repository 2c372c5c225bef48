"""`eod dbt <args>`: dbt on the configured (or embedded) database."""

from __future__ import annotations

import argparse

from eod import dbt
from eod.context import Context


def register(subparsers) -> None:
    parser = subparsers.add_parser("dbt", help="run dbt on the configured database", add_help=False)
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    return 0 if dbt.invoke(args.dbt_args or ["--help"], Context().database_url) else 1
