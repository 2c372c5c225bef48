"""A close in a process of its own, struck at a named point (eod.devkit.chaos.strike).

    python -m eod.devkit.chaos.child D POINT ACTION SIGNAL_FILE

closes D as `eod close --date D` would. When the close reaches POINT it writes
SIGNAL_FILE, then with ACTION `kill` sends itself SIGKILL (nothing of the process
runs after it: no finally, no atexit, no flush); with ACTION `pause` it waits until
SIGNAL_FILE.go exists, then goes on; `pause-then-stop` also stops the close at the end
of that stage. It prints each date's outcome and the failure,
if any, and exits with the close's status.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from eod.config import apply_prefect_defaults


def main(argv: list[str]) -> int:
    day, point, action, signal_file = argv
    apply_prefect_defaults()
    from eod.business_date import parse_date
    from eod.devkit.chaos.strike import hooks
    from eod.errors import EodError
    from flows.service import run_close

    def strike(reached: str) -> None:
        Path(signal_file).write_text(reached)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        state.stop_after_strike = action == "pause-then-stop"
        go = Path(signal_file + ".go")
        while not go.exists():
            time.sleep(0.05)

    with hooks(strike) as state:
        state.arm(None if point == "-" else point)
        try:
            report = run_close(parse_date(day))
        except EodError as exc:
            print(f"failed: {exc}", flush=True)
            return exc.exit_code
    for line in report.lines():
        print(line)
    if report.failure:
        print(f"failed: {report.failure}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
