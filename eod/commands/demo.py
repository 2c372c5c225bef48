"""`eod demo`: the close end to end on embedded services."""

from __future__ import annotations

from eod.devkit.demo import DemoOptions, run_demo


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="generate an exchange and close it end to end")
    parser.add_argument("--users", type=int, default=DemoOptions.users)
    parser.add_argument("--days", type=int, default=DemoOptions.days)
    parser.add_argument("--trades-per-day", type=int, default=DemoOptions.trades_per_day)
    parser.add_argument("--seed", type=int, default=DemoOptions.seed)
    parser.set_defaults(handler=_demo)


def _demo(args) -> int:
    return run_demo(
        DemoOptions(
            users=args.users, days=args.days, trades_per_day=args.trades_per_day, seed=args.seed
        )
    )
