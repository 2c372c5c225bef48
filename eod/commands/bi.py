"""`eod bi serve` (what `make bi` runs) and `eod bi docs`: the finance dashboards."""

from __future__ import annotations

import os
import signal

from eod.context import Context
from eod.errors import InputError

DASHBOARDS = (
    ("Fees", "eod-fees"),
    ("P&L", "eod-pnl"),
    ("Fee tiers", "eod-fee-tiers"),
    ("Staking", "eod-staking"),
    ("Reconciliation", "eod-reconciliation"),
    ("Reserves", "eod-reserves"),
)


def register(subparsers) -> None:
    bi = subparsers.add_parser("bi", help="finance dashboards in Superset (see `make bi`)")
    sub = bi.add_subparsers(dest="bi_command", metavar="ACTION", required=True)

    serve = sub.add_parser(
        "serve", help="load bi/ into Superset and serve it over the configured or demo database"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("EOD_BI_PORT") or 8088), help="port"
    )
    serve.set_defaults(handler=_serve)

    docs = sub.add_parser("docs", help="copy the dbt docs' column descriptions into bi/datasets")
    docs.add_argument("--check", action="store_true", help="only say whether they differ")
    docs.set_defaults(handler=_docs)


def _database(ctx: Context) -> str:
    """The configured database; with none, the embedded server's demo database if
    `make demo` made one (its default database otherwise)."""
    if ctx.settings.database_url:
        return ctx.settings.database_url
    from eod.db import connect, with_database
    from eod.devkit.demo import DEMO_DATABASE

    server = ctx.database_url
    conn = connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (DEMO_DATABASE,))
            found = cur.fetchone() is not None
    finally:
        conn.close()
    if not found:
        print("no demo database on the embedded Postgres yet: run `make demo` for data")
        return server
    return with_database(server, DEMO_DATABASE)


def _closed_days(url: str) -> str:
    from eod.db import transaction

    with transaction(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('marts.recon_summary') is not null")
        if not cur.fetchone()[0]:
            return "no closed day yet"
        cur.execute("select min(business_date), max(business_date) from marts.recon_summary")
        first, last = cur.fetchone()
    return f"closed days {first} .. {last}" if first else "no closed day yet"


def _serve(args) -> int:
    from eod.bi.reader import READER_ROLE, ensure_reader, reader_url
    from eod.bi.superset import ADMIN_USER, Superset, stop, wait_healthy
    from eod.db import redact

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, beyond loopback")
    ctx = Context()
    url = _database(ctx)
    state = ctx.settings.state_dir / "bi"
    password = ensure_reader(url, state)
    superset = Superset.at(state)
    admin_password = superset.prepare(os.environ.get("EOD_BI_ADMIN_PASSWORD"))
    superset.load(reader_url(url, READER_ROLE, password, "postgresql+psycopg2"), admin_password)
    proc = superset.serve(args.host, args.port)
    base = f"http://{args.host}:{args.port}"
    # a SIGTERM (a service manager, `kill`) stops Superset as Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        wait_healthy(base, proc)
        print(f"Superset: {base}/  user {ADMIN_USER}  password {admin_password}")
        print(f"database: {redact(url)} as {READER_ROLE} (finance_reader), {_closed_days(url)}")
        for title, slug in DASHBOARDS:
            print(f"  {title:<15} {base}/superset/dashboard/{slug}/")
        print(f"log: {superset.log_path}; Ctrl-C stops it")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _docs(args) -> int:
    from eod.bi.assets import stale_descriptions, write_descriptions

    if args.check:
        stale = stale_descriptions()
        if stale:
            raise InputError("descriptions differ from the dbt docs in " + ", ".join(stale))
        print("bi/datasets carry the dbt docs' descriptions")
        return 0
    changed = write_descriptions()
    print(f"updated {len(changed)} dataset file(s)" + "".join(f"\n  {c}" for c in changed))
    return 0
