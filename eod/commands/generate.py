"""`eod generate`: a deterministic synthetic exchange with its external systems' data."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from eod.business_date import parse_date
from eod.context import Context
from eod.devkit.generate import spec
from eod.devkit.generate.model import Options
from eod.errors import InputError

_DRIFT_RE = re.compile(r"^([A-Za-z]+)=(-?\d+(?:\.\d+)?)$")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate a synthetic exchange (platform rows + simulator data)",
        description="Generate a synthetic exchange, deterministic from --seed, and load it "
        "with COPY; business dates follow EOD_CUTOVER.",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--trades-per-day", type=int, default=10_000)
    p.add_argument("--start", default="2026-11-01", help="first business date (YYYY-MM-DD)")
    p.add_argument("--reset", action="store_true", help="empty platform and sim tables first")
    p.add_argument(
        "--registry-days",
        type=int,
        default=None,
        help="keep the engine registry of the last K days only "
        "(default: all days up to 100k users, else 1)",
    )
    p.add_argument(
        "--break-ledger",
        type=int,
        default=0,
        metavar="N",
        help="N users' engine totals drift on the fault date",
    )
    p.add_argument(
        "--custody-drift",
        action="append",
        default=[],
        metavar="CCY=AMOUNT",
        help="add AMOUNT (currency units) to CCY's custody on the fault date",
    )
    p.add_argument(
        "--staking-drift",
        type=int,
        default=0,
        metavar="UNITS",
        help="add UNITS (QTRA base units) to the on-chain stake on the fault date",
    )
    p.add_argument("--fault-date", default=None, help="default: the last generated day")
    p.set_defaults(handler=_generate)


def parse_custody_drift(items: list[str]) -> dict[str, int]:
    """CCY=AMOUNT (currency units, at most the currency's decimals) -> base units."""
    decimals = {c.code: c.decimals for c in spec.CURRENCIES}
    out: dict[str, int] = {}
    for item in items:
        match = _DRIFT_RE.match(item.strip())
        if not match:
            raise InputError(f"--custody-drift must look like CCY=AMOUNT, got {item!r}")
        code, text = match[1].upper(), match[2]
        if code not in decimals:
            raise InputError(f"--custody-drift names an unknown currency: {code}")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise InputError(f"--custody-drift amount is not a number: {text!r}") from None
        units = amount.scaleb(decimals[code])
        if units != units.to_integral_value():
            raise InputError(
                f"--custody-drift {code}={text} has more than {decimals[code]} decimals"
            )
        out[code] = out.get(code, 0) + int(units)
    return out


def options_from_args(args, cutover) -> Options:
    if args.users < spec.MIN_USERS:
        raise InputError(f"--users must be at least {spec.MIN_USERS} (one per account state)")
    if args.days < 1:
        raise InputError("--days must be at least 1")
    if args.trades_per_day < 0:
        raise InputError("--trades-per-day must not be negative")
    if args.seed < 0:
        raise InputError("--seed must not be negative")
    start = parse_date(args.start, "--start")
    registry_days = args.registry_days
    if registry_days is None:
        registry_days = args.days if args.users <= 100_000 else 1
    if registry_days < 1:
        raise InputError("--registry-days must be at least 1")
    registry_days = min(registry_days, args.days)
    fault_date = parse_date(args.fault_date, "--fault-date") if args.fault_date else None
    last = args.days - 1
    if fault_date is not None and not 0 <= (fault_date - start).days <= last:
        raise InputError(f"--fault-date {fault_date} is not a generated business date")
    fault_day = (fault_date - start).days if fault_date else last
    if args.break_ledger < 0:
        raise InputError("--break-ledger must not be negative")
    if args.break_ledger and fault_day < args.days - registry_days:
        raise InputError("--break-ledger needs the fault date among the --registry-days kept")
    if args.break_ledger > args.users - 7:
        raise InputError(f"--break-ledger {args.break_ledger} is more than the users with balances")
    return Options(
        seed=args.seed,
        users=args.users,
        days=args.days,
        trades_per_day=args.trades_per_day,
        start=start,
        cutover=cutover,
        registry_days=registry_days,
        break_ledger=args.break_ledger,
        custody_drift=parse_custody_drift(args.custody_drift),
        staking_drift=args.staking_drift,
        fault_date=fault_date,
    )


def _generate(args) -> int:
    from eod.devkit.generate import generate

    ctx = Context()
    opts = options_from_args(args, ctx.settings.cutover)
    result = generate(ctx.database_url, opts, reset=args.reset)
    ex = result.exchange
    print(
        f"generated seed {opts.seed}: business dates {ex.dates[0]}..{ex.dates[-1]} "
        f"(cutover {opts.cutover}), registry kept for "
        f"{len(ex.registry_days)} day(s)"
    )
    for table, rows in result.counts.items():
        print(f"  {table:<28} {rows:>12,}")
    for user, currency, drift in ex.broken_accounts:
        print(f"  fault: engine total of user {user} in {currency} drifts by {drift} units")
    for code, units in opts.custody_drift.items():
        print(f"  fault: custody of {code} drifts by {units} base units")
    if opts.staking_drift:
        print(f"  fault: on-chain stake drifts by {opts.staking_drift} base units")
    total = result.generate_s + result.load_s
    print(f"took {total:.1f}s (generate {result.generate_s:.1f}s, load {result.load_s:.1f}s)")
    return 0
