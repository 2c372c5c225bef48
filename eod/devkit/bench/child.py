"""Run one close in this process and report its own peak memory.

`python -m eod.devkit.bench.child D OUT.json` closes D through the flow and writes the exit
code and the process's peak resident set (VmHWM) to OUT.json. Prefect's ephemeral
API server runs in a process of its own and is not counted: the figure is the flow's.
A sampler also records, every 100 ms with its wall-clock time, the resident set (so the
bench can tell which step reached the peak) and how many of the machine's cores were
busy (every process counted: Postgres's backends and the simulators do the close's
work too), so the bench can tell which steps left a core idle.
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


def _cpu_jiffies(stat) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat's first line."""
    stat.seek(0)
    fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user time
    return total - idle, total


def _sample(
    samples: list[tuple[float, float]],
    cpu: list[tuple[float, float]],
    stop: threading.Event,
) -> None:
    """(epoch seconds, resident MiB) and (epoch seconds, busy cores over the last
    interval) every SAMPLE_S until stopped."""
    cores = os.cpu_count() or 1
    with open("/proc/self/statm") as statm, open("/proc/stat") as stat:
        busy, total = _cpu_jiffies(stat)
        while not stop.wait(SAMPLE_S):
            statm.seek(0)
            resident_pages = int(statm.read().split()[1])
            now = time.time()
            samples.append((now, round(resident_pages * PAGE_MIB, 1)))
            busy_now, total_now = _cpu_jiffies(stat)
            if total_now > total:
                cpu.append((now, round(cores * (busy_now - busy) / (total_now - total), 2)))
            busy, total = busy_now, total_now


def _peak_mib() -> float:
    """The process's peak resident set; ru_maxrss only where /proc does not say (it
    would carry the forking bench's footprint across exec)."""
    peak = own_peak_mib()
    if peak is not None:
        return peak
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str]) -> int:
    from flows.service import run_close

    day, out = parse_date(argv[0]), argv[1]
    samples: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(samples, cpu, stop), daemon=True)
    if os.path.exists("/proc/self/statm") and os.path.exists("/proc/stat"):
        sampler.start()
    started, started_at = time.perf_counter(), time.time()
    try:
        outcome = run_close(day)
        code, error = outcome.exit_code, outcome.failure
    except EodError as exc:
        code, error = 2, str(exc)
    stop.set()
    figures = {
        "rss_samples": samples,
        "cpu_samples": cpu,
        "exit_code": code,
        "error": error,
        "wall_s": round(time.perf_counter() - started, 2),
        "started_at": started_at,
        "finished_at": time.time(),
        "peak_rss_mib": _peak_mib(),
    }
    with open(out, "w") as fh:
        json.dump(figures, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
