"""`eod lint`: ruff on the Python, sqlfluff (dbt templater) on the models.

The dbt templater compiles the models through dbt, which connects to the warehouse
(an incremental model looks its own table up), so sqlfluff runs against the configured
or embedded Postgres. What the models compile to does not depend on the dates closed
there: the first date of the close chain is a var.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eod.config import PROJECT_DIR
from eod.context import Context
from eod.dbt import prepare_env


def register(subparsers) -> None:
    parser = subparsers.add_parser("lint", help="ruff and sqlfluff")
    parser.set_defaults(handler=_lint)


def _lint(args) -> int:
    bin_dir = Path(sys.executable).parent
    env = prepare_env(Context().database_url)
    commands = [
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
        [str(bin_dir / "sqlfluff"), "lint", "models"],
    ]
    failed = 0
    for command in commands:
        print(
            "$ " + " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command)),
            flush=True,
        )
        failed += subprocess.run(command, cwd=PROJECT_DIR, env=env).returncode != 0
    return 1 if failed else 0
