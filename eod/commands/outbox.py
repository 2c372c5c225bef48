"""`eod outbox relay [--once]`: publish the transactional outbox to NATS JetStream."""

from __future__ import annotations

import signal
import threading

from eod.context import Context


def register(subparsers) -> None:
    outbox = subparsers.add_parser("outbox", help="the transactional event outbox")
    sub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    relay = sub.add_parser("relay", help="publish pending events to NATS JetStream")
    relay.add_argument("--once", action="store_true", help="relay what is pending and exit")
    relay.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    relay.set_defaults(handler=_relay)
    pending = sub.add_parser("pending", help="count events not yet published")
    pending.set_defaults(handler=_pending)


def _relay(args) -> int:
    from eod.outbox.relay import relay_forever, relay_once

    ctx = Context()
    if args.once:
        report = relay_once(ctx.database_url, ctx.nats_url)
        print(f"published {report.published} events ({report.duplicates} already in the stream)")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    relay_forever(ctx.database_url, ctx.nats_url, stop, args.interval)
    return 0


def _pending(args) -> int:
    from eod.db import transaction

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from eod.outbox where published_at is null")
        print(cur.fetchone()[0])
    return 0
