"""The circuit breaker of the engine/ledger check (EOD_MAX_FREEZES), over real closes.

Three dates: the first is clean; on the second the generator drifts four users' engine
totals, more than EOD_MAX_FREEZES allows to freeze, so the close freezes nobody, pages
critical and marks the check suspect, while the break records are kept; on the third
this test drifts the same pairs again with EOD_MAX_FREEZES equal to their number, and
the close freezes them all (the limit is "above it", not "at it").
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from eod.close.status import close_status
from eod.commands.close import close_date
from tests_py.close_fixtures import START, running_exchange
from tests_py.test_close_e2e import _drifted_pairs

D1, D2, D3 = START, START + timedelta(days=1), START + timedelta(days=2)
# the states the state machine may move to suspended (CONTRACT section 9)
SUSPENDABLE = {"kyc_approved", "active", "restricted"}


def test_over_max_freezes_freezes_nobody_and_marks_the_check_suspect(
    db_url, nats_url, monkeypatch, tmp_path
):
    with running_exchange(
        db_url, nats_url, monkeypatch, tmp_path, days=3, break_ledger=4, fault_date=D2
    ) as x:
        drifted = _drifted_pairs(x, D2)
        users = sorted({u for u, _ in drifted})
        assert len(users) == 4
        statuses = dict(
            x.fetch(
                "select user_id, status::text from exchange.users where user_id = any(%s)",
                (users,),
            )
        )
        would_freeze = sorted(u for u in users if statuses[u] in SUSPENDABLE)
        assert would_freeze  # else there would be nothing to hold back
        limit = len(would_freeze) - 1
        monkeypatch.setenv("EOD_MAX_FREEZES", str(limit))

        assert close_date(D1) == 0
        assert close_date(D2) == 1
        # nobody frozen by the close
        assert x.fetch("select count(*) from exchange.account_state_transitions") == [(0,)]
        assert x.fetch(
            "select user_id, status::text from exchange.users where user_id = any(%s) order by 1",
            (users,),
        ) == sorted(statuses.items())
        [(detail,)] = x.fetch(
            "select detail from eod.eod_runs where business_date = %s and step_name = 'reconcile'",
            (D2,),
        )
        assert detail["suspended"] == []
        assert detail["circuit_breaker"] == {
            "would_freeze": len(would_freeze),
            "max_freezes": limit,
        }
        assert detail["suspect_checks"] == ["me_ledger"]
        # the break records are kept for an operator to investigate
        assert (
            x.fetch(
                """select user_id, currency from eod.recon_breaks
               where check_name = 'me_ledger' and status = 'open' order by 1, 2"""
            )
            == drifted
        )
        # one critical page for the check, saying why nobody was frozen
        pages = [e for e in x.pager.events if e["dedup_key"] == f"eod/{D2}/me_ledger"]
        assert len(pages) == 1
        assert pages[0]["payload"]["severity"] == "critical"
        assert pages[0]["payload"]["summary"] == (
            f"EOD {D2} me_ledger: {len(drifted)} breaks would freeze {len(would_freeze)}"
            f" users, above EOD_MAX_FREEZES={limit}: nobody frozen, the check is suspect"
            " (a truncated or wrong capture?)"
        )
        [(recon_failed,)] = x.fetch(
            """select payload from eod.outbox where subject = 'eod.recon.failed'
               and payload ->> 'check' = 'me_ledger'"""
        )
        assert recon_failed["status"] == "suspect"
        [(completed,)] = x.fetch(
            """select payload from eod.outbox where subject = 'eod.close.completed'
               and payload ->> 'business_date' = %s""",
            (D2.isoformat(),),
        )
        assert json.dumps(completed).count('"suspect"') >= 1
        [status] = close_status(db_url, [D2])
        assert status.outcome() == (
            f"{D2}  closed, checks broke: me_ledger (suspect: over EOD_MAX_FREEZES, nobody frozen)"
        )

        # the same pairs broken on D3, with the limit at their number: all frozen
        for user_id, currency in drifted:
            x.fetch(
                """update sim.me_registry set total = total + 0.5, available = available + 0.5
                   where user_id = %s and currency = %s and business_date = %s returning 1""",
                (user_id, currency, D3),
            )
        assert _drifted_pairs(x, D3) == drifted
        monkeypatch.setenv("EOD_MAX_FREEZES", str(len(would_freeze)))
        assert close_date(D3) == 1
        assert x.fetch(
            """select user_id, to_state::text, actor from exchange.account_state_transitions
               order by user_id"""
        ) == [(u, "suspended", "eod") for u in would_freeze]
        [(detail,)] = x.fetch(
            "select detail from eod.eod_runs where business_date = %s and step_name = 'reconcile'",
            (D3,),
        )
        assert detail["suspended"] == would_freeze and "circuit_breaker" not in detail
        assert Decimal(0) not in {
            d for (d,) in x.fetch("select difference from marts.recon_me_ledger")
        }
