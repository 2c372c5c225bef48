"""`eod citus up|down|status`: a local Citus cluster (a coordinator and two workers)."""

from __future__ import annotations

from eod.config import Settings


def register(subparsers) -> None:
    citus = subparsers.add_parser(
        "citus", help="a local Citus cluster: a coordinator and two workers on loopback"
    )
    sub = citus.add_subparsers(dest="citus_command", metavar="ACTION", required=True)
    up = sub.add_parser(
        "up", help="create (once) and start the cluster; prints the coordinator's URL last"
    )
    up.add_argument(
        "--port",
        type=int,
        default=None,
        help="the coordinator's port; the workers take the next two (default 9700)",
    )
    up.set_defaults(handler=_up)
    down = sub.add_parser("down", help="stop the cluster")
    down.add_argument("--delete", action="store_true", help="also delete its data")
    down.set_defaults(handler=_down)
    status = sub.add_parser("status", help="each node's port and state")
    status.set_defaults(handler=_status)


def _cluster(port: int | None = None):
    from eod.citus.cluster import LocalCluster

    return LocalCluster(Settings.from_env().state_dir, port)


def _up(args) -> int:
    cluster = _cluster(args.port)
    url = cluster.up()
    for name, port, state in cluster.status():
        print(f"{name:<12} 127.0.0.1:{port:<6} {state}")
    print(f"data in {cluster.root}; use the URL below as EOD_DATABASE_URL, then `eod db migrate`")
    print(url)
    return 0


def _down(args) -> int:
    cluster = _cluster()
    stopped = cluster.down(delete=args.delete)
    print(("stopped " + ", ".join(stopped)) if stopped else "the cluster was not running")
    if args.delete:
        print(f"deleted {cluster.root}")
    return 0


def _status(args) -> int:
    cluster = _cluster()
    rows = cluster.status()
    for name, port, state in rows:
        print(f"{name:<12} 127.0.0.1:{port:<6} {state}")
    running = all(state.startswith("running") for _, _, state in rows)
    if running:
        print(cluster.url())
    return 0 if running else 1
