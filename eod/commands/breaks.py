"""`eod breaks list|ack|resolve`: follow reconciliation breaks and act on them."""

from __future__ import annotations

import json

from eod.business_date import parse_date
from eod.context import Context
from eod.db import transaction


def register(subparsers) -> None:
    from eod.breaks.actions import STATUSES
    from eod.breaks.records import CHECKS

    breaks = subparsers.add_parser(
        "breaks", help="reconciliation breaks: list, acknowledge, resolve"
    )
    sub = breaks.add_subparsers(dest="breaks_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="breaks, oldest first")
    p.add_argument("--status", choices=STATUSES, help="only breaks in this status")
    p.add_argument("--date", help="only breaks found on this business date (YYYY-MM-DD)")
    p.add_argument("--check", choices=CHECKS, help="only this check's breaks")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=_list)

    p = sub.add_parser("ack", help="acknowledge a break: you have seen it, and why")
    p.add_argument("break_id", type=int, metavar="ID")
    p.add_argument("--by", required=True, help="your name (not 'eod')")
    p.add_argument("--note", required=True, help="what you make of it")
    p.set_defaults(handler=_ack)

    p = sub.add_parser("resolve", help="resolve a break, saying why")
    p.add_argument("break_id", type=int, metavar="ID")
    p.add_argument("--by", required=True, help="your name (not 'eod')")
    p.add_argument("--reason", required=True, help="why it is resolved")
    p.add_argument(
        "--restore",
        action="store_true",
        help="also return the user's account, frozen by the close, to active",
    )
    p.set_defaults(handler=_resolve)


def _list(args) -> int:
    from eod.breaks.actions import list_breaks
    from eod.breaks.table import format_table

    day = parse_date(args.date, "--date") if args.date else None
    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        found = list_breaks(cur, status=args.status, business_date=day, check=args.check)
    if args.json:
        for b in found:
            print(json.dumps(b.as_json()))
        return 0
    if not found:
        print("no breaks")
        return 0
    for line in format_table(found):
        print(line)
    return 0


def _ack(args) -> int:
    from eod.breaks.actions import acknowledge

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        b = acknowledge(cur, args.break_id, args.by, args.note)
    print(f"break {b.break_id} acknowledged by {b.acknowledged_by}")
    return 0


def _resolve(args) -> int:
    from eod.breaks.actions import resolve

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        outcome = resolve(cur, args.break_id, args.by, args.reason, restore=args.restore)
    b = outcome.resolved
    print(f"break {b.break_id} resolved by {b.resolved_by}: {b.resolution}")
    if outcome.restored:
        t = outcome.restored
        print(
            f"account {t.user_id}: {t.from_state} -> {t.to_state} "
            f"(transition {t.transition_id}, actor {t.actor})"
        )
    return 0
