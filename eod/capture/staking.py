"""Capture of the StakingPool's totalStaked() over Ethereum JSON-RPC for a business date.

An `eth_call` of selector 0x817b1cd2 on EOD_STAKING_POOL_ADDRESS at "latest"; the
uint256 result is QTRA in base units. D's row in `eod.onchain_staking` is replaced.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from eod.capture.http import post_json
from eod.config import Settings
from eod.db import transaction
from eod.errors import ConfigError, InputError, ServiceError

log = logging.getLogger(__name__)

WHAT = "staking RPC"
TOTAL_STAKED_SELECTOR = "0x817b1cd2"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT256 = re.compile(r"0x[0-9a-fA-F]{1,64}")


def eth_call_request(pool_address: str, request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "eth_call",
        "params": [{"to": pool_address, "data": TOTAL_STAKED_SELECTOR}, "latest"],
    }


def parse_uint256(reply: Any) -> int:
    """The result of a JSON-RPC reply as an integer; a JSON-RPC error is a ServiceError."""
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise InputError("staking RPC reply is not a JSON-RPC 2.0 response")
    if reply.get("error") is not None:
        error = reply["error"]
        if isinstance(error, dict):
            code, message = error.get("code"), str(error.get("message", "")).splitlines()
            first = message[0] if message else ""
            raise ServiceError(f"staking RPC error {code}: {first}")
        raise ServiceError(f"staking RPC error: {error!r}")
    result = reply.get("result")
    if not isinstance(result, str) or not _UINT256.fullmatch(result):
        raise InputError(f"staking RPC result is not a uint256 hex string: {result!r}")
    return int(result, 16)


def capture_staking(database_url: str, business_date: date, settings: Settings) -> dict[str, Any]:
    """Capture totalStaked() into eod.onchain_staking; returns a summary."""
    if not settings.staking_rpc_url:
        raise ConfigError("EOD_STAKING_RPC_URL is not set")
    address = settings.staking_pool_address or ""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(f"EOD_STAKING_POOL_ADDRESS must be a 0x address, got {address!r}")
    reply = post_json(settings.staking_rpc_url, WHAT, eth_call_request(address))
    units = parse_uint256(reply)
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute("delete from eod.onchain_staking where business_date = %s", (business_date,))
        cur.execute(
            """insert into eod.onchain_staking (business_date, total_staked_units, captured_at)
               values (%s, %s, now())""",
            (business_date, units),
        )
    summary = {"total_staked_units": str(units)}
    log.info("on-chain staking for %s captured: %s", business_date, summary)
    return summary
