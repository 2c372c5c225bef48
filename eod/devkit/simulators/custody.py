"""BitGo-shaped custody simulator: `GET /api/v2/{coin}/wallet/{wallet_id}`, bearer token."""

from __future__ import annotations

import hmac
import re

from eod.devkit.simulators.http import Handler
from eod.devkit.simulators.state import ENGINE_CREDITED, NotGenerated

_WALLET_RE = re.compile(r"^/api/v2/([a-z0-9]+)/wallet/([A-Za-z0-9_-]+)$")
# A wallet id that always fails, so a close's handling of a custody outage can be tested.
FAILING_WALLET_ID = "simulate-500"

# The stored balance plus, on a currency's first wallet, what users were credited
# since the registry was generated (in base units): custody follows the engine. The
# credits are summed per currency first (no correlated subquery), so the same query
# runs where the ledger is distributed (Citus).
_BALANCE_SQL = """
with credited as (
    select e.currency, sum(e.amount) as amount
    from exchange.ledger_entries as e
    where e.account = 'user'
      and e.reference_type = any(%(credited)s)
      and e.effective_at < %(as_of)s
    group by e.currency
)
select
    w.currency,
    w.wallet_no,
    (w.balance_units + case when w.wallet_no = 1
        then coalesce(k.amount * power(10::numeric, c.decimals), 0) else 0 end
    )::numeric(78, 0)::text
from sim.custody_wallet_balances as w
join exchange.currencies as c on w.currency = c.currency
left join credited as k on w.currency = k.currency
where w.business_date = %(business_date)s and w.coin = %(coin)s and w.wallet_id = %(wallet_id)s
"""


class CustodyHandler(Handler):
    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.server.extra["token"]
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), expected.encode()
        )

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._authorised():
            self.send_error_json(
                401, "unauthorized: a valid bearer token is required", "Unauthorized"
            )
            return
        match = _WALLET_RE.match(self.path.split("?", 1)[0])
        if not match:
            self.send_error_json(404, f"no such endpoint: {self.path}", "NotFound")
            return
        coin, wallet_id = match.groups()
        state = self.server.state
        if state.custody_fail or wallet_id == FAILING_WALLET_ID:
            self.send_error_json(500, "internal server error (simulated)", "InternalError")
            return
        conn = state.connect()
        try:
            try:
                business_date, instant = state.reference_instant(conn)
            except NotGenerated as exc:
                self.send_error_json(404, str(exc), "WalletNotFound")
                return
            with conn.cursor() as cur:
                cur.execute(
                    _BALANCE_SQL,
                    {
                        "credited": list(ENGINE_CREDITED),
                        "as_of": instant,
                        "business_date": business_date,
                        "coin": coin,
                        "wallet_id": wallet_id,
                    },
                )
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None:
            self.send_error_json(
                404, f"wallet {wallet_id} not found for coin {coin}", "WalletNotFound"
            )
            return
        currency, wallet_no, balance = row
        self.send_json_or_fault(
            {
                "id": wallet_id,
                "coin": coin,
                "label": f"{currency} wallet {wallet_no}",
                "balanceString": balance,
                "confirmedBalanceString": balance,
                "spendableBalanceString": balance,
            },
            state.custody_fault,
        )
