"""`eod por prove` and `eod por verify`: one user's proof of reserves, and checking one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eod.business_date import parse_date
from eod.context import Context
from eod.db import transaction
from eod.errors import InputError


def register(subparsers) -> None:
    por = subparsers.add_parser("por", help="proof of reserves: prove, verify, publish")
    sub = por.add_subparsers(dest="por_command", metavar="ACTION", required=True)

    prove = sub.add_parser("prove", help="print the JSON proof of a user's balance")
    prove.add_argument("--date", required=True, help="business date YYYY-MM-DD")
    prove.add_argument("--user", required=True, type=int, help="user_id")
    prove.add_argument("--currency", required=True, help="currency code, e.g. BTC")
    prove.set_defaults(handler=_prove)

    verify = sub.add_parser("verify", help="check a proof against the published root")
    verify.add_argument("file", help="the proof JSON (as printed by prove), or - for stdin")
    verify.set_defaults(handler=_verify)

    publish = sub.add_parser(
        "publish", help="write the date's roots and an in-browser proof verifier as a static site"
    )
    publish.add_argument("--date", required=True, help="business date YYYY-MM-DD")
    publish.add_argument("--out", required=True, help="folder to write the site into")
    publish.set_defaults(handler=_publish)

    bench = sub.add_parser("bench", help="time the tree over N synthetic leaves")
    bench.add_argument("--leaves", type=int, default=3_000_000)
    bench.set_defaults(handler=_bench)


def _prove(args) -> int:
    from eod.por import prove

    ctx = Context()
    proof = prove(
        ctx.database_url,
        parse_date(args.date, "--date"),
        args.user,
        args.currency,
        ctx.settings.por_secret,
    )
    print(json.dumps(proof, indent=2))
    return 0


def _read(name: str):
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{name} is not JSON: {exc.msg} at line {exc.lineno}") from None


def _verify(args) -> int:
    from eod.por import check_published, published_root, verify_proof

    proof = _read(args.file)
    verify_proof(proof)  # refuse a broken proof before touching the database
    business_date = parse_date(str(proof["business_date"]), "business_date")
    with transaction(Context().database_url) as conn:
        published = published_root(conn, business_date, proof["currency"])
    root = check_published(proof, published)
    print(
        f"proof verified: user {proof['user_id']} {proof['currency']} {proof['units']} units"
        f" on {business_date} is in root {root.hash} (sum {root.sum})"
    )
    return 0


def _publish(args) -> int:
    from eod.por.publish import publish

    business_date = parse_date(args.date, "--date")
    written = publish(Context().database_url, business_date, Path(args.out))
    print(f"proof of reserves for {business_date}: {len(written)} files in {args.out}")
    print(f"open {Path(args.out).resolve() / 'index.html'}")
    return 0


def _bench(args) -> int:
    from eod.devkit.bench.por import bench_tree

    if args.leaves < 1:
        raise InputError(f"--leaves must be at least 1, got {args.leaves}")
    figures = bench_tree(Context().database_url, args.leaves)
    print(
        f"proof-of-reserves tree over {figures['leaves']:,} leaves:"
        f" {figures['tree_s']} s (sort, stream, hash; generation {figures['generate_s']} s),"
        f" peak RSS {figures['peak_rss_mib']} MiB, root {figures['root_hash']}"
    )
    return 0
