"""`eod close`, `eod backfill`, `eod status`: run and inspect the close."""

from __future__ import annotations

from datetime import date

from eod.business_date import parse_date
from eod.config import Settings
from eod.context import Context
from eod.db import connect
from eod.errors import EodError, InputError


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


def run_close(business_date: date) -> int:
    """Run the flow for D; print what happened; 0 only when all succeeded and nothing broke."""
    from eod.close import dbt_build
    from flows.eod_close import CloseFailed, eod_close

    database_url = Context().database_url
    # dbt parses the project while Prefect starts its API server for the flow
    parsing = dbt_build.prepare(database_url)
    try:
        eod_close(business_date=business_date.isoformat())
    except CloseFailed as exc:
        raise EodError(f"close failed: {exc}") from None
    finally:
        parsing.join()
    return report_outcome(database_url, business_date)


def report_outcome(database_url: str, business_date: date) -> int:
    rows = _status_rows(database_url, business_date)
    broken: list[str] = []
    for day, step, status, attempts, seconds, detail in rows:
        print(f"{day}  {step:<22} {status:<10} attempts={attempts:<2} {seconds:>8}s")
        if step == "close" and detail:
            broken += [f"{day} {check}" for check in detail.get("broken_checks", [])]
    if broken:
        print("checks that broke: " + ", ".join(broken))
        return 1
    return 0


def _close(args) -> int:
    Settings.from_env().require_real_close()
    return run_close(parse_date(args.date, "--date"))


def _backfill(args) -> int:
    Settings.from_env().require_real_close()
    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    if end < start:
        raise InputError(f"--end {end} is before --start {start}")
    from flows.calendar import first_closed_date

    first = first_closed_date(Context().database_url)
    code = 0
    if first is None or start < first:
        code = run_close(start)  # starts the chain (or refuses if before it)
    return max(code, run_close(end))


def _status_rows(database_url: str, business_date: date | None):
    conn = connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select business_date, step_name, status, attempts,
                          round(extract(epoch from finished_at - started_at)::numeric, 2),
                          detail
                   from eod.eod_runs
                   where (%(d)s::date is null and business_date in (
                            select distinct business_date from eod.eod_runs
                            order by business_date desc limit 10))
                      or business_date <= %(d)s::date and business_date >= %(d)s::date
                   order by business_date, started_at nulls last, step_name""",
                {"d": business_date},
            )
            return cur.fetchall()
    finally:
        conn.close()


def _status(args) -> int:
    day = parse_date(args.date, "--date") if args.date else None
    rows = _status_rows(Context().database_url, day)
    if not rows:
        print("no close recorded" + (f" for {day}" if day else ""))
        return 0
    code = 0
    for d, step, status, attempts, seconds, detail in rows:
        reason = f"  {detail.get('reason')}" if status == "failed" and detail else ""
        print(f"{d}  {step:<22} {status:<10} attempts={attempts:<2} {seconds or '-':>8}s{reason}")
        if status == "failed":
            code = 1
    return code
