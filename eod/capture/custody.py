"""Capture of custody wallet balances (BitGo-compatible REST) for a business date.

One GET per `exchange.custody_wallets` row, with the bearer token; `balanceString` is
the balance in base units. All replies are staged and validated first; D's rows in
`eod.custody_balances` are then replaced in one transaction, so a wallet that did not
answer leaves D's earlier capture (or none) in place.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import date
from typing import Any
from urllib.parse import quote

from eod.capture.http import get_json
from eod.close.leader import check_fence
from eod.config import Settings
from eod.db import transaction
from eod.errors import ConfigError, InputError
from eod.validation import validate_custody

log = logging.getLogger(__name__)

WHAT = "custody"
_UNITS = re.compile(r"-?[0-9]+")


def wallet_url(custody_url: str, coin: str, wallet_id: str) -> str:
    base = custody_url.rstrip("/")
    return f"{base}/api/v2/{quote(coin, safe='')}/wallet/{quote(wallet_id, safe='')}"


def _wallets(database_url: str) -> list[tuple[str, str, str]]:
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select currency, coin, wallet_id from exchange.custody_wallets"
            " order by currency, wallet_id"
        )
        return cur.fetchall()


def balance_units(reply: Any, coin: str, wallet_id: str) -> int:
    """The wallet's balanceString as an integer (negative ones are left to validation)."""
    value = reply.get("balanceString") if isinstance(reply, dict) else None
    if not isinstance(value, str) or not _UNITS.fullmatch(value):
        raise InputError(
            f"custody wallet {coin}/{wallet_id}: balanceString must be an integer string,"
            f" got {value!r}"
        )
    return int(value)


def capture_custody(
    database_url: str, business_date: date, settings: Settings, fencing_token: int | None = None
) -> dict[str, Any]:
    """Capture every custody wallet's balance into eod.custody_balances; returns a summary.
    With the close's fencing token, the landing transaction checks it first."""
    if not settings.custody_url:
        raise ConfigError("EOD_CUSTODY_URL is not set: nowhere to read custody balances from")
    if not settings.custody_token:
        raise ConfigError("EOD_CUSTODY_TOKEN is not set")
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {settings.custody_token}", "Accept": "application/json"}
    balances = []
    for currency, coin, wallet_id in _wallets(database_url):
        reply = get_json(wallet_url(settings.custody_url, coin, wallet_id), WHAT, headers=headers)
        balances.append((currency, coin, wallet_id, balance_units(reply, coin, wallet_id)))

    capture_id = str(uuid.uuid4())
    try:
        with transaction(database_url) as conn, conn.cursor() as cur:
            cur.executemany(
                """insert into eod.custody_balances_incoming
                       (capture_id, currency, coin, wallet_id, balance_units)
                   values (%s, %s, %s, %s, %s)""",
                [(capture_id, *row) for row in balances],
            )
        validation = validate_custody(
            database_url,
            business_date,
            uuid.UUID(capture_id),
            settings.state_dir,
            fencing_token=fencing_token,
        )
        with transaction(database_url) as conn, conn.cursor() as cur:
            if fencing_token is not None:
                check_fence(cur, fencing_token)
            cur.execute(
                "delete from eod.custody_balances where business_date = %s", (business_date,)
            )
            cur.execute(
                """insert into eod.custody_balances
                       (business_date, currency, coin, wallet_id, balance_units, captured_at)
                   select %s, currency, coin, wallet_id, balance_units, now()
                   from eod.custody_balances_incoming where capture_id = %s""",
                (business_date, capture_id),
            )
            cur.execute(
                "delete from eod.custody_balances_incoming where capture_id = %s", (capture_id,)
            )
    finally:
        with transaction(database_url) as conn, conn.cursor() as cur:
            cur.execute(
                """delete from eod.custody_balances_incoming
                   where capture_id = %s or staged_at < now() - interval '1 day'""",
                (capture_id,),
            )
    per_currency: dict[str, int] = {}
    for currency, _, _, units in balances:
        per_currency[currency] = per_currency.get(currency, 0) + units
    summary = {
        "wallets": len(balances),
        "units_per_currency": {c: str(u) for c, u in sorted(per_currency.items())},
        "validation": validation.summary(),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("custody for %s captured: %s", business_date, summary)
    return summary
