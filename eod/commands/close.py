"""`eod close`, `eod backfill`, `eod status`: run and inspect the close.

Argument parsing and printing only; the close itself is `flows.service`.
"""

from __future__ import annotations

from datetime import date

from eod.business_date import parse_date
from eod.context import Context
from eod.errors import EodError


def register(subparsers) -> None:
    close = subparsers.add_parser("close", help="close a business date (with catch-up)")
    close.add_argument("--date", required=True, help="business date YYYY-MM-DD")
    close.set_defaults(handler=_close)

    backfill = subparsers.add_parser("backfill", help="close a range of business dates")
    backfill.add_argument("--start", required=True)
    backfill.add_argument("--end", required=True)
    backfill.set_defaults(handler=_backfill)

    status = subparsers.add_parser("status", help="steps of the close per business date")
    status.add_argument("--date", help="business date YYYY-MM-DD (default: the last ten)")
    status.set_defaults(handler=_status)


def report(outcome) -> int:
    """Print one line per date; the exit status: 0 only when every date closed with no
    check broken. A failed run is a one-line error (EodError) after the lines; a close
    that lost its leadership is that one line alone."""
    if outcome.deposed:
        raise EodError(f"close stopped: {outcome.deposed}; the new leader carries on")
    for line in outcome.lines():
        print(line)
    if outcome.failure:
        raise EodError(f"close failed: {outcome.failure}")
    return outcome.exit_code


def close_date(business_date: date) -> int:
    """`eod close --date D`: close D (catch-up first), print each date's outcome."""
    from flows.service import run_close

    return report(run_close(business_date))


def _close(args) -> int:
    return close_date(parse_date(args.date, "--date"))


def _backfill(args) -> int:
    from flows.service import backfill

    return report(backfill(parse_date(args.start, "--start"), parse_date(args.end, "--end")))


def _status(args) -> int:
    from eod.close.status import close_status, undelivered

    day = parse_date(args.date, "--date") if args.date else None
    database_url = Context().database_url
    dates = close_status(database_url, [day] if day else None)
    waiting = undelivered(database_url)
    if not any(d.steps for d in dates):
        print("no close recorded" + (f" for {day}" if day else ""))
        for line in waiting:
            print(line)
        return 0
    code = 0
    for d in dates:
        for s in d.steps:
            reason = f"  {s.reason}" if s.reason else ""
            print(
                f"{d.business_date}  {s.step_name:<22} {s.status:<10} attempts={s.attempts:<2} "
                f"{s.seconds or '-':>8}s{reason}"
            )
            if s.status == "failed":
                code = 1
        print(d.outcome())
    for line in waiting:
        print(line)
    return code
