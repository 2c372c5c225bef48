"""The chaos tier prints its table of faults at the end of the run (the same table as
`eod bench chaos`)."""

from __future__ import annotations

from eod.devkit.chaos import table

# (scenario, result) of every scenario the tier ran, in order
DONE: list = []


def pytest_terminal_summary(terminalreporter) -> None:
    if not DONE:
        return
    terminalreporter.write_line("")
    for line in table.markdown(DONE).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(table.summary(DONE))
