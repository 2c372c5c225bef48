"""Capture of the StakingPool's totalStaked() over Ethereum JSON-RPC for a business date.

The total is read at the block of the end of D: the last block whose timestamp is
before the end of D (a block stamped exactly at the end belongs to the next day, as
an instant at a cutover does). That block is found by binary search over
`eth_getBlockByNumber` timestamps, which never decrease along the chain; then
`eth_call` of selector 0x817b1cd2 on EOD_STAKING_POOL_ADDRESS runs at that block, so a
backfill of an old date reads that date's total, never today's. The uint256 result is
QTRA in base units. D's row in `eod.onchain_staking` is replaced.
"""

from __future__ import annotations

import itertools
import logging
import re
from datetime import date, datetime
from typing import Any

from eod.capture.http import post_json
from eod.close.leader import check_fence
from eod.config import Settings
from eod.db import transaction
from eod.errors import ConfigError, InputError, ServiceError

log = logging.getLogger(__name__)

WHAT = "staking RPC"
TOTAL_STAKED_SELECTOR = "0x817b1cd2"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT256 = re.compile(r"0x[0-9a-fA-F]{1,64}")
_QUANTITY = re.compile(r"0x(?:0|[1-9a-fA-F][0-9a-fA-F]*)")
_ids = itertools.count(1)


def rpc_request(method: str, params: list) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}


def eth_call_request(pool_address: str, block: int) -> dict[str, Any]:
    """totalStaked() at a block (a hex quantity, never a tag such as "latest")."""
    return rpc_request(
        "eth_call", [{"to": pool_address, "data": TOTAL_STAKED_SELECTOR}, hex(block)]
    )


def _result(reply: Any, what: str) -> Any:
    """The result of a JSON-RPC reply; a JSON-RPC error is a ServiceError."""
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise InputError(f"staking RPC reply to {what} is not a JSON-RPC 2.0 response")
    if reply.get("error") is not None:
        error = reply["error"]
        if isinstance(error, dict):
            code, message = error.get("code"), str(error.get("message", "")).splitlines()
            first = message[0] if message else ""
            raise ServiceError(f"staking RPC error {code}: {first}")
        raise ServiceError(f"staking RPC error: {error!r}")
    return reply.get("result")


def parse_uint256(reply: Any) -> int:
    """The uint256 result of an eth_call reply as an integer."""
    result = _result(reply, "eth_call")
    if not isinstance(result, str) or not _UINT256.fullmatch(result):
        raise InputError(f"staking RPC result is not a uint256 hex string: {result!r}")
    return int(result, 16)


def _quantity(value: Any, what: str) -> int:
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise InputError(f"staking RPC {what} is not a hex quantity: {value!r}")
    return int(value, 16)


class Chain:
    """The few JSON-RPC reads the capture needs, one request each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls = 0

    def _ask(self, method: str, params: list) -> Any:
        self.calls += 1
        return _result(post_json(self.url, WHAT, rpc_request(method, params)), method)

    def head(self) -> int:
        return _quantity(self._ask("eth_blockNumber", []), "eth_blockNumber result")

    def timestamp(self, block: int) -> int:
        """The block's timestamp (Unix seconds)."""
        result = self._ask("eth_getBlockByNumber", [hex(block), False])
        if result is None:
            raise ServiceError(f"staking RPC has no block {block} (eth_getBlockByNumber: null)")
        if not isinstance(result, dict):
            raise InputError(f"staking RPC block {block} is not a JSON object: {result!r}")
        return _quantity(result.get("timestamp"), f"timestamp of block {block}")


def block_before(chain: Chain, end: datetime) -> int:
    """The last block whose timestamp is before `end`, by binary search from the head.

    The head must be at or past `end` (otherwise the chain has not reached the end of
    the date, and its last block before it may still come), and block 0 before it.
    """
    limit = int(end.timestamp())
    if end.timestamp() != limit:  # timestamps are whole seconds: < end means <= floor
        limit += 1
    head = chain.head()
    head_time = chain.timestamp(head)
    if head_time < limit:
        raise ServiceError(
            f"staking RPC head block {head} (timestamp {head_time}) is before the end of the"
            f" date ({end.isoformat()}): the chain has not reached it yet"
        )
    if chain.timestamp(0) >= limit:
        raise InputError(f"staking RPC chain starts after the end of the date ({end.isoformat()})")
    low, high = 0, head  # timestamp(low) < limit <= timestamp(high)
    while high - low > 1:
        middle = (low + high) // 2
        if chain.timestamp(middle) < limit:
            low = middle
        else:
            high = middle
    return low


def capture_staking(
    database_url: str, business_date: date, settings: Settings, fencing_token: int | None = None
) -> dict[str, Any]:
    """Capture totalStaked() at the block of the end of D into eod.onchain_staking;
    returns a summary. With the close's fencing token, the landing transaction checks
    it first."""
    if not settings.staking_rpc_url:
        raise ConfigError("EOD_STAKING_RPC_URL is not set")
    address = settings.staking_pool_address or ""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(f"EOD_STAKING_POOL_ADDRESS must be a 0x address, got {address!r}")
    _, end = settings.cutover.window(business_date)
    chain = Chain(settings.staking_rpc_url)
    block = block_before(chain, end)
    units = parse_uint256(post_json(chain.url, WHAT, eth_call_request(address, block)))
    with transaction(database_url) as conn, conn.cursor() as cur:
        if fencing_token is not None:
            check_fence(cur, fencing_token)
        cur.execute("delete from eod.onchain_staking where business_date = %s", (business_date,))
        cur.execute(
            """insert into eod.onchain_staking (business_date, total_staked_units, captured_at)
               values (%s, %s, now())""",
            (business_date, units),
        )
    summary = {"total_staked_units": str(units), "block": block}
    log.info("on-chain staking for %s captured: %s", business_date, summary)
    return summary
