"""`eod seal verify`: recompute the sealed closes and their chain."""

from __future__ import annotations

from eod.business_date import parse_date
from eod.context import Context


def register(subparsers) -> None:
    seal = subparsers.add_parser("seal", help="sealed closes: verify the chain")
    sub = seal.add_subparsers(dest="seal_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "verify", help="recompute each date's digests and links; exit 1 at the first mismatch"
    )
    p.add_argument("--start", help="first business date (default: the chain's first)")
    p.add_argument("--end", help="last business date (default: the last sealed)")
    p.set_defaults(handler=_verify)


def _verify(args) -> int:
    from eod.seal import verify

    start = parse_date(args.start, "--start") if args.start else None
    end = parse_date(args.end, "--end") if args.end else None
    report = verify(Context().database_url, start, end)
    print(report.summary())
    return 0 if report.ok else 1
