"""Run one close in this process and report its own peak memory.

`python -m eod.bench.child D OUT.json` closes D through the flow and writes the exit
code and the process's peak resident set (ru_maxrss) to OUT.json. Prefect's ephemeral
API server runs in a process of its own and is not counted: the figure is the flow's.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from eod.business_date import parse_date
from eod.errors import EodError


def main(argv: list[str]) -> int:
    from eod.commands.close import run_close

    day, out = parse_date(argv[0]), argv[1]
    started = time.perf_counter()
    try:
        code = run_close(day)
        error = None
    except EodError as exc:
        code, error = 1, str(exc)
    figures = {
        "exit_code": code,
        "error": error,
        "wall_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    with open(out, "w") as fh:
        json.dump(figures, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
