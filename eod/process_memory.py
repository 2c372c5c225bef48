"""A process's own memory figures, for the benchmarks and the proof-of-reserves workers."""

from __future__ import annotations


def own_peak_mib() -> float | None:
    """This process's peak resident set (VmHWM) in MiB, or None where /proc does not say.

    Not ru_maxrss: Linux keeps that across exec, so a program started by a process that
    had grown large would report its parent's footprint."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
