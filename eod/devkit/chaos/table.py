"""The chaos run's table: one row per fault, whether it struck, whether the close
was consistent with the reference after the re-run."""

from __future__ import annotations

from eod.devkit.chaos.scenarios import Result, Scenario


def rows(scenario: Scenario, result: Result) -> list[tuple[str, str, str]]:
    return [
        (
            fault,
            "yes" if result.injected.get(fault) else "no",
            "yes" if result.consistent else "no",
        )
        for fault, _ in scenario.faults
    ]


def markdown(done: list[tuple[Scenario, Result]]) -> str:
    lines = [
        "| fault | injected | consistent after re-run |",
        "|---|---|---|",
    ]
    for scenario, result in done:
        lines += [f"| {f} | {i} | {c} |" for f, i, c in rows(scenario, result)]
    return "\n".join(lines)


def summary(done: list[tuple[Scenario, Result]]) -> str:
    faults = [row for scenario, result in done for row in rows(scenario, result)]
    held = sum(1 for _, injected, consistent in faults if injected == consistent == "yes")
    return f"{held} of {len(faults)} faults injected and consistent after re-run"
