"""Breaks as a table a person reads (`eod breaks list`, the demo)."""

from __future__ import annotations

_HEADER = ("id", "check", "user", "currency", "first", "last", "days", "difference", "status", "by")


def _by(b) -> str:
    if b.status == "resolved":
        return f"{b.resolved_by}: {b.resolution}"
    if b.status == "acknowledged":
        return b.acknowledged_by or ""
    return ""


def _row(b) -> tuple[str, ...]:
    return (
        str(b.break_id),
        b.check_name,
        "" if b.user_id is None else str(b.user_id),
        b.currency or "",
        b.first_date.isoformat(),
        b.last_date.isoformat(),
        str(b.days_open),
        "" if b.difference is None else str(b.difference),
        b.status,
        _by(b),
    )


def format_table(found) -> list[str]:
    """Aligned columns, numbers to the right; the last column as it comes."""
    rows = [_HEADER, *(_row(b) for b in found)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER) - 1)]
    right = {0, 2, 6, 7}
    lines = []
    for r in rows:
        cells = [
            (cell.rjust(w) if i in right else cell.ljust(w))
            for i, (cell, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return lines
