"""The `eod` command line.

Each module in `eod.commands` adds its own subcommands through `register(subparsers)`,
so a command lives next to nothing but its own argument parsing. Errors derived
from EodError become one line on stderr and a non-zero exit; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import eod.commands
from eod.config import apply_prefect_defaults
from eod.errors import EodError


class OneLineParser(argparse.ArgumentParser):
    """argparse, with an argument error said in one line (`eod close: the following
    arguments are required: --date`) rather than after a usage block; `--help` still
    shows the usage. Subcommands' parsers are of the same class."""

    def error(self, message: str):
        print(
            f"{self.prog}: {message.splitlines()[0] if message else 'bad arguments'}",
            file=sys.stderr,
        )
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="eod", description="End-of-day close for a centralised crypto exchange."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(eod.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"eod.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_prefect_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # libraries that log at INFO on their own (Great Expectations, dbt adapters)
        for noisy in ("great_expectations", "dbt", "pgserver"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        result = args.handler(args)
    except EodError as exc:
        print(f"eod {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"eod {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
