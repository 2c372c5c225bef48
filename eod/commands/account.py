"""`eod account ...`: transitions, compliance hits, closure requests, history, audit check."""

from __future__ import annotations

import json

from eod.context import Context
from eod.db import transaction
from fsm.machine import MACHINE


def register(subparsers) -> None:
    account = subparsers.add_parser("account", help="account states, compliance and audit")
    sub = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)

    def with_user(name: str, help_text: str):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--user", type=int, required=True, help="user_id")
        return parser

    p = with_user("transition", "move an account to another state")
    p.add_argument("--to", required=True, dest="to_state", help="target state")
    p.add_argument("--actor", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=_transition)

    p = with_user("compliance-hit", "freeze an account: sanctions hit, re-KYC or dispute")
    p.add_argument("--kind", required=True, choices=["sanctions", "rekyc", "dispute"])
    p.add_argument("--actor", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=_compliance_hit)

    frozen = " or ".join(sorted(s.value for s in MACHINE.restorable()))
    p = with_user("reactivate", f"return a {frozen} account to active")
    p.add_argument("--actor", required=True, help="the person deciding (not 'eod')")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=_reactivate)

    p = with_user("request-closure", "request closure: the account becomes restricted")
    p.add_argument("--actor", help="who asks (default: user:<id>)")
    p.add_argument("--reason", default="requested by the user")
    p.set_defaults(handler=_request_closure)

    p = with_user("cancel-closure", "cancel a pending closure request: back to active")
    p.add_argument("--actor", help="who cancels (default: user:<id>)")
    p.add_argument("--reason", default="cancelled by the user")
    p.set_defaults(handler=_cancel_closure)

    p = sub.add_parser("history", help="audited transitions, oldest first")
    p.add_argument("--user", type=int, help="only this user_id")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=_history)

    p = sub.add_parser("verify-audit", help="recompute the audit hash chain")
    p.set_defaults(handler=_verify_audit)


def _print_transition(record) -> None:
    print(
        f"account {record.user_id}: {record.from_state} -> {record.to_state} "
        f"(transition {record.transition_id}, actor {record.actor})"
    )


def _transition(args) -> int:
    from eod.accounts.transitions import transition

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        record = transition(cur, args.user, args.to_state, args.actor, args.reason)
    _print_transition(record)
    return 0


def _compliance_hit(args) -> int:
    from eod.accounts.compliance import Hit, compliance_hit

    ctx = Context()
    with transaction(ctx.database_url) as conn, conn.cursor() as cur:
        record = compliance_hit(
            cur, args.user, Hit(args.kind), args.actor, args.reason, ctx.settings.sanctions_action
        )
    if record is None:
        print(f"account {args.user}: already frozen, nothing changed")
    else:
        _print_transition(record)
    return 0


def _reactivate(args) -> int:
    from eod.accounts.compliance import reactivate

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        record = reactivate(cur, args.user, args.actor, args.reason)
    _print_transition(record)
    return 0


def _request_closure(args) -> int:
    from eod.accounts.closures import request_closure

    actor = args.actor or f"user:{args.user}"
    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        request_id = request_closure(cur, args.user, actor, args.reason)
    print(f"account {args.user}: closure request {request_id} recorded; account restricted")
    return 0


def _cancel_closure(args) -> int:
    from eod.accounts.closures import cancel_closure

    actor = args.actor or f"user:{args.user}"
    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        request_id = cancel_closure(cur, args.user, actor, args.reason)
        cur.execute("select status::text from exchange.users where user_id = %s", (args.user,))
        state = cur.fetchone()[0]
    print(f"account {args.user}: closure request {request_id} cancelled; account {state}")
    return 0


def _history(args) -> int:
    from eod.accounts.transitions import history

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        records = history(cur, args.user)
    for r in records:
        if args.json:
            print(
                json.dumps(
                    {
                        "transition_id": r.transition_id,
                        "user_id": r.user_id,
                        "from_state": r.from_state,
                        "to_state": r.to_state,
                        "actor": r.actor,
                        "reason": r.reason,
                        "occurred_at": r.occurred_at.isoformat(),
                        "hash": r.hash,
                    }
                )
            )
        else:
            print(
                f"{r.transition_id}\t{r.occurred_at.isoformat()}\t{r.user_id}\t"
                f"{r.from_state} -> {r.to_state}\t{r.actor}\t{r.reason}"
            )
    return 0


def _verify_audit(args) -> int:
    from eod.accounts.audit import verify_audit

    with transaction(Context().database_url) as conn, conn.cursor() as cur:
        report = verify_audit(cur)
    if report.ok:
        print(f"audit chain intact: {report.rows_checked} transitions verified")
        return 0
    print(
        f"audit chain broken at transition {report.first_bad_id}: {report.problem} "
        f"({report.rows_checked} rows before it verified)"
    )
    return 1
