"""`eod simulate`: the matching-engine, custody and chain simulators on loopback."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from eod.business_date import parse_date
from eod.context import Context
from eod.devkit.simulators.faults import REPLY_FAULTS
from eod.devkit.simulators.state import ME_FAULTS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="serve the generated exchange's engine, custody and chain (demo and tests)",
        description="Start the three simulators and print their URLs; runs until Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port",
        type=int,
        default=0,
        help="engine port; custody and chain use the next two (default: any free)",
    )
    p.add_argument("--custody-token", default=None, help="default: a generated token")
    p.add_argument("--pool-address", default=None, help="StakingPool contract address")
    p.add_argument(
        "--me-fault",
        choices=ME_FAULTS,
        default=None,
        help="spoil the engine's snapshots (to test the close's validation)",
    )
    p.add_argument("--custody-fail", action="store_true", help="custody answers HTTP 500")
    for system in ("custody", "rpc"):
        p.add_argument(
            f"--{system}-fault",
            choices=REPLY_FAULTS,
            default=None,
            help=f"spoil the {system} replies on the wire (to test the captures' messages)",
        )
    p.add_argument("--no-nats", action="store_true", help="do not subscribe to account events")
    p.set_defaults(handler=_serve)
    sub = p.add_subparsers(dest="simulate_command", metavar="ACTION")
    export = sub.add_parser("export", help="write registry snapshots as DIR/YYYY-MM-DD.ndjson")
    export.add_argument("--dir", required=True, type=Path)
    export.add_argument(
        "--date",
        action="append",
        default=[],
        help="a business date (repeatable; default: every stored one)",
    )
    export.set_defaults(handler=_export)


def _serve(args) -> int:
    from eod.devkit.simulators import DEFAULT_POOL_ADDRESS, start_simulators

    ctx = Context()
    handle = start_simulators(
        ctx.database_url,
        nats_url=None if args.no_nats else ctx.nats_url,
        host=args.host,
        port=args.port,
        custody_token=args.custody_token,
        pool_address=args.pool_address or DEFAULT_POOL_ADDRESS,
        me_fault=args.me_fault,
        custody_fail=args.custody_fail,
    )
    handle.custody_fault = args.custody_fault
    handle.rpc_fault = args.rpc_fault
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"EOD_ME_URL={handle.me_url}")
    print(f"EOD_CUSTODY_URL={handle.custody_url}")
    print(f"EOD_CUSTODY_TOKEN={handle.custody_token}")
    print(f"EOD_STAKING_RPC_URL={handle.rpc_url}")
    print(f"EOD_STAKING_POOL_ADDRESS={handle.pool_address}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    print("simulators stopped")
    return 0


def _export(args) -> int:
    from eod.devkit.simulators.export import export_snapshots

    dates = [parse_date(d, "--date") for d in args.date]
    for path in export_snapshots(Context().database_url, args.dir, dates or None):
        print(path)
    return 0
