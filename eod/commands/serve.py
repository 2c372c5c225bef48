"""`eod serve`: the daily close deployment, the AdminService and the outbox relay.

Runs until SIGTERM or Ctrl-C, then stops the three cleanly: the Prefect runner
finishes, the gRPC server drains, the relay publishes what is pending and stops. The
relay delivers both outboxes: events to NATS, pages to the pager (each page once it
is due again after a failed attempt).
"""

from __future__ import annotations

import logging
import signal
import threading

from eod.context import Context
from eod.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the daily close deployment, the AdminService and the outbox relay"
    )
    parser.add_argument("--admin-host", default="127.0.0.1", help="default: loopback only")
    parser.add_argument("--admin-port", type=int, default=50051)
    parser.add_argument("--relay-interval", type=float, default=1.0, help="seconds")
    parser.set_defaults(handler=_serve)


def _relay_round(ctx: Context) -> None:
    """Pages and events that are due; an outage leaves them waiting for the next round."""
    from eod.outbox.relay import relay_once
    from eod.paging import deliver_pages

    try:
        pages = deliver_pages(ctx.database_url, ctx.settings)
        if pages.accepted:
            log.info("delivered %d page(s)", pages.accepted)
        if pages.errors:
            log.warning("pager: %s", pages.errors[-1])
    except Exception as exc:
        log.warning("pager: %s", exc)
    try:
        relay_once(ctx.database_url, ctx.nats_url)
    except Exception as exc:  # NATS down: events wait in the outbox
        log.warning("outbox relay: %s", exc)


def _relay_loop(ctx: Context, stop: threading.Event, interval: float) -> None:
    while not stop.is_set():
        _relay_round(ctx)
        stop.wait(interval)
    _relay_round(ctx)


def _serve(args) -> int:
    from prefect import serve

    from eod.admin.server import serve as serve_admin
    from flows.deployment import cron_after_cutover, deployment

    ctx = Context()
    settings = ctx.settings
    settings.require_real_close()
    if not settings.admin_token:
        raise ConfigError("EOD_ADMIN_TOKEN is not set: the AdminService refuses to start")
    admin, port = serve_admin(
        ctx.database_url, settings.admin_token, args.admin_host, args.admin_port
    )
    stop = threading.Event()
    relay = threading.Thread(
        target=_relay_loop, args=(ctx, stop, args.relay_interval), name="outbox-relay"
    )
    relay.start()

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    print(
        f"serving: eod-close daily at '{cron_after_cutover(settings.cutover)}' "
        f"{settings.cutover.zone}; AdminService on {args.admin_host}:{port}; outbox relay",
        flush=True,
    )
    try:
        serve(deployment(settings.cutover), pause_on_shutdown=False)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        admin.stop(grace=5).wait()
        relay.join(10)
        print("stopped", flush=True)
    return 0
