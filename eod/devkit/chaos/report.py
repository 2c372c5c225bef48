"""`eod bench chaos`: run every scenario, print the table of faults and the time taken.

    eod bench chaos [--only NAME ...] [--users N] [--days N]

Exit status 0 when every fault struck and every close was consistent after re-run.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

from eod.devkit.chaos import scenarios, table
from eod.devkit.chaos.harness import ExchangeShape, Harness


def chaos_report(
    shape: ExchangeShape | None = None,
    only: list[str] | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    chosen = [
        s
        for s in scenarios.SCENARIOS
        if not only or any(word.lower() in s.name.lower() for word in only)
    ]
    started = time.monotonic()
    # a SIGTERM still stops the private Postgres and nats-server (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    harness = Harness(shape or ExchangeShape())
    done = []
    try:
        harness.setup()
        echo(
            f"reference: {harness.shape.users} users, {harness.shape.days} days, "
            f"{harness.day} closed in {time.monotonic() - started:.0f} s with its set-up"
        )
        for scenario in chosen:
            result = scenarios.run(harness, scenario)
            done.append((scenario, result))
            verdict = "consistent" if result.consistent else "NOT consistent"
            echo(f"{scenario.name}: {verdict} ({result.seconds:.0f} s)")
            if not result.consistent or not all(result.injected.values()):
                echo(result.explain())
    finally:
        harness.teardown()
    echo("")
    echo(table.markdown(done))
    echo("")
    echo(f"{table.summary(done)}; {time.monotonic() - started:.0f} s in all")
    ok = all(r.consistent and all(r.injected.values()) for _, r in done)
    return 0 if ok else 1
