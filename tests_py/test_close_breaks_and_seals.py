"""Breaks and seals over real closes (Postgres, NATS, dbt, Prefect, simulators).

Three dates: the first is clean; on the second the generator drifts one user's engine
total, and this test drifts another user's USDT by 0.5 on the second and third. So the
close of the second opens two breaks, and the close of the third clears the first
(a timing difference) and ages the second. The expected breaks come from the
platform and simulator tables (test_close_e2e's second implementation), not the marts.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from eod.breaks.actions import BreakRefused, resolve
from eod.commands.close import close_date
from eod.seal import verify
from tests_py.breaks_fixtures import cursor
from tests_py.close_fixtures import START, running_exchange
from tests_py.conftest import run_eod
from tests_py.test_close_e2e import _drifted_pairs

D1, D2, D3 = START, START + timedelta(days=1), START + timedelta(days=2)
DRIFT = Decimal("0.5")


def _breaks(x):
    return {
        (user, currency): (break_id, first, last, status, resolved_by, resolution)
        for break_id, user, currency, first, last, status, resolved_by, resolution in x.fetch(
            """select break_id, user_id, currency, first_date, last_date, status, resolved_by,
                      resolution
               from eod.recon_breaks where check_name = 'me_ledger'"""
        )
    }


def _state(x, user_id):
    return x.scalar("select status::text from exchange.users where user_id = %s", (user_id,))


def test_breaks_live_and_closes_are_sealed(db_url, nats_url, monkeypatch, tmp_path, eod_env):
    with running_exchange(
        db_url, nats_url, monkeypatch, tmp_path, days=3, break_ledger=1, fault_date=D2
    ) as x:
        ((u1, c1),) = _drifted_pairs(x, D2)
        u2 = x.scalar(
            """select min(r.user_id) from sim.me_registry r join exchange.users u using (user_id)
               where r.business_date = %s and r.currency = 'USDT' and u.status = 'active'
                 and r.user_id <> %s""",
            (D3, u1),
        )
        x.fetch(
            """update sim.me_registry set total = total + %s, available = available + %s
               where user_id = %s and currency = 'USDT' and business_date in (%s, %s)
               returning 1""",
            (DRIFT, DRIFT, u2, D2, D3),
        )
        assert sorted(_drifted_pairs(x, D2)) == sorted([(u1, c1), (u2, "USDT")])
        assert _drifted_pairs(x, D3) == [(u2, "USDT")]

        assert close_date(D1) == 0
        assert close_date(D2) == 1
        opened = _breaks(x)
        assert set(opened) == {(u1, c1), (u2, "USDT")}
        assert all(b[1:4] == (D2, D2, "open") for b in opened.values())
        assert _state(x, u1) == _state(x, u2) == "suspended"

        assert close_date(D3) == 1
        after = _breaks(x)
        # u2's break persists: same id, one date older; u1's cleared by the close
        assert after[(u2, "USDT")] == (opened[(u2, "USDT")][0], D2, D3, "open", None, None)
        assert after[(u1, c1)] == (
            opened[(u1, c1)][0],
            D2,
            D2,
            "resolved",
            "eod",
            f"cleared by the close of {D3}",
        )
        assert x.fetch(
            "select difference from eod.recon_breaks where break_id = %s",
            (after[(u2, "USDT")][0],),
        ) == [(DRIFT,)]
        # the close never restores: u1 stays frozen though its break cleared
        assert _state(x, u1) == "suspended"

        # finance's view, per date, of the engine/ledger check
        assert x.fetch(
            """select business_date, open_breaks, new_breaks, resolved_breaks, oldest_open_days
               from marts.fct_recon_breaks_daily where check_name = 'me_ledger' order by 1"""
        ) == [(D1, 0, 0, 0, None), (D2, 2, 2, 0, 0), (D3, 1, 0, 1, 1)]

        # every completed close is sealed and announced with its seal
        report = verify(db_url)
        assert report.ok and report.checked == [D1, D2, D3]
        completed = x.fetch(
            "select payload->'detail'->>'seal_hash' from eod.outbox"
            " where subject = 'eod.close.completed' order by created_at"
        )
        seals = x.fetch("select seal_hash from eod.close_seals order by business_date")
        assert completed == seals

        # an operator: the cleared break cannot be resolved again; u2's is, with a restore
        with cursor(db_url) as cur, pytest.raises(BreakRefused, match="already resolved by eod"):
            resolve(cur, after[(u1, c1)][0], "alice", "seen")
        out = run_eod(
            [
                "breaks",
                "resolve",
                str(after[(u2, "USDT")][0]),
                "--by",
                "alice",
                "--reason",
                "engine credit replayed",
                "--restore",
            ],
            eod_env,
        ).stdout
        assert f"account {u2}: suspended -> active" in out
        assert _state(x, u2) == "active"
        assert x.fetch(
            "select payload->>'actor', payload->>'from_state' from eod.outbox"
            " where subject = 'account.restored'"
        ) == [("alice", "suspended")]

        # a re-run changes no seal; the operator's action changed no sealed figure
        sealed = x.fetch("select * from eod.close_seals order by business_date")
        assert close_date(D3) == 1
        assert x.fetch("select * from eod.close_seals order by business_date") == sealed
        assert run_eod(["seal", "verify"], eod_env).stdout.startswith("3 sealed dates verified")

        # a mart row of D2 edited afterwards
        x.fetch(
            """update marts.fct_daily_fees set total_fees_usdt = total_fees_usdt + 1
               where business_date = %s and user_id = (
                   select min(user_id) from marts.fct_daily_fees where business_date = %s)
               returning 1""",
            (D2, D2),
        )
        proc = run_eod(["seal", "verify"], eod_env, check=False)
        assert proc.returncode == 1
        assert proc.stdout.startswith(f"seal of {D2} does not match: marts digest differs")
