"""`eod adjust`: an admin balance adjustment, idempotent by key."""

from __future__ import annotations

import getpass

from eod.context import Context


def register(subparsers) -> None:
    p = subparsers.add_parser("adjust", help="post an admin balance adjustment")
    p.add_argument("--user", type=int, required=True, help="user_id")
    p.add_argument("--currency", required=True)
    p.add_argument("--amount", required=True, help="decimal; negative debits the user")
    p.add_argument("--reason", required=True)
    p.add_argument("--key", required=True, help="idempotency key (reference_id)")
    p.add_argument("--actor", help="who adjusts (default: admin:<login name>)")
    p.set_defaults(handler=_adjust)


def _adjust(args) -> int:
    from eod.accounts.adjustments import adjust_balance

    ctx = Context()
    outcome = adjust_balance(
        ctx.database_url,
        user_id=args.user,
        currency=args.currency,
        amount=args.amount,
        reason=args.reason,
        key=args.key,
        actor=args.actor or f"admin:{getpass.getuser()}",
        cutover=ctx.settings.cutover,
    )
    if outcome.created:
        print(
            f"adjustment {args.key} posted: journal {outcome.journal_id}, "
            f"business date {outcome.business_date}"
        )
    else:
        print(
            f"adjustment {args.key} already posted (journal {outcome.journal_id}); nothing changed"
        )
    return 0
