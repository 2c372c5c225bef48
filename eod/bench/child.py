"""Run one close in this process and report its own peak memory.

`python -m eod.bench.child D OUT.json` closes D through the flow and writes the exit
code and the process's peak resident set (VmHWM) to OUT.json. Prefect's ephemeral
API server runs in a process of its own and is not counted: the figure is the flow's.
A sampler also records the resident set every 100 ms with its wall-clock time, so the
bench can tell which step reached the peak.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time

from eod.business_date import parse_date
from eod.errors import EodError
from eod.process_memory import own_peak_mib

SAMPLE_S = 0.1
PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _sample(samples: list[tuple[float, float]], stop: threading.Event) -> None:
    """(epoch seconds, resident MiB) every SAMPLE_S until stopped."""
    with open("/proc/self/statm") as statm:
        while not stop.wait(SAMPLE_S):
            statm.seek(0)
            resident_pages = int(statm.read().split()[1])
            samples.append((time.time(), round(resident_pages * PAGE_MIB, 1)))


def _peak_mib() -> float:
    """The process's peak resident set; ru_maxrss only where /proc does not say (it
    would carry the forking bench's footprint across exec)."""
    peak = own_peak_mib()
    if peak is not None:
        return peak
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str]) -> int:
    from eod.commands.close import run_close

    day, out = parse_date(argv[0]), argv[1]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(samples, stop), daemon=True)
    if os.path.exists("/proc/self/statm"):
        sampler.start()
    started = time.perf_counter()
    try:
        code = run_close(day)
        error = None
    except EodError as exc:
        code, error = 1, str(exc)
    stop.set()
    figures = {
        "rss_samples": samples,
        "exit_code": code,
        "error": error,
        "wall_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": _peak_mib(),
    }
    with open(out, "w") as fh:
        json.dump(figures, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
