"""Ethereum JSON-RPC simulator: a chain of blocks with history, and StakingPool.totalStaked().

Block n is stamped n * SECONDS_PER_BLOCK seconds after the Unix epoch, so a cutover
instant (a whole minute) always has a block stamped exactly at it. The pool's total
at a block is the generated total of the business date whose window holds the
block's timestamp (carried forward past the last generated date, zero before the
first): the state at the last block of D is D's total, and the block stamped at the
end of D already shows D+1's. The head is the first block at or after the later of
the end of the last generated date and the last registry snapshot served.

Methods: eth_chainId, eth_blockNumber, eth_getBlockByNumber, eth_call (at a block
number or tag). `RpcFaults` spoils replies for the capture's fault tests.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from eod.devkit.simulators.http import Handler
from eod.devkit.simulators.state import NotGenerated, SimState

TOTAL_STAKED_SELECTOR = "0x817b1cd2"  # keccak256("totalStaked()")[:4]
CHAIN_ID = 1337
SECONDS_PER_BLOCK = 12


def _error(request_id, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _ok(request_id, result) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def block_timestamp(block: int) -> int:
    return block * SECONDS_PER_BLOCK


def head_block(state: SimState, conn) -> int:
    gen = state.generation(conn)
    instant = gen.cutover.window(gen.last_date)[1]
    served = state.last_served()
    if served is not None and served > instant:
        instant = served
    return -(-int(instant.timestamp()) // SECONDS_PER_BLOCK)


def _block_hash(block: int) -> str:
    return "0x" + hashlib.sha256(f"sim block {block}".encode()).hexdigest()


def _block(block: int) -> dict:
    return {
        "number": hex(block),
        "hash": _block_hash(block),
        "parentHash": _block_hash(block - 1) if block else "0x" + "0" * 64,
        "timestamp": hex(block_timestamp(block)),
        "transactions": [],
    }


def total_at(state: SimState, conn, block: int) -> int:
    """The pool's total at a block (see the module's docstring)."""
    cutover = state.generation(conn).cutover
    instant = datetime.fromtimestamp(block_timestamp(block), UTC)
    with conn.cursor() as cur:
        cur.execute(
            """select total_units::text from sim.onchain_staked where business_date <= %s
               order by business_date desc limit 1""",
            (cutover.business_date_of(instant),),
        )
        row = cur.fetchone()
    return int(row[0]) if row else 0


class RpcHandler(Handler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(200, _error(None, -32700, "parse error"))
            return
        if isinstance(body, list):
            reply = [self._answer(item) for item in body]
        else:
            reply = self._answer(body)
        self.send_json_or_fault(reply, self.server.state.rpc_fault)

    def _block_number(self, tag, head: int) -> int | None:
        """A block tag or hex number as a block number; None when it is not one."""
        if tag in (None, "latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        if isinstance(tag, str) and tag.startswith("0x"):
            try:
                return int(tag, 16)
            except ValueError:
                return None
        return None

    def _answer(self, request) -> dict:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _error(None, -32600, "invalid request")
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params") or []
        state = self.server.state
        if method not in ("eth_chainId", "eth_blockNumber", "eth_getBlockByNumber", "eth_call"):
            return _error(
                request_id, -32601, f"the method {method} does not exist/is not available"
            )
        if method == "eth_chainId":
            return _ok(request_id, hex(CHAIN_ID))
        conn = state.connect()
        try:
            try:
                head = head_block(state, conn)
            except NotGenerated as exc:
                return _error(request_id, -32000, str(exc))
            if method == "eth_blockNumber":
                return _ok(request_id, hex(head))
            if method == "eth_getBlockByNumber":
                block = self._block_number(params[0] if params else None, head)
                if block is None:
                    return _error(request_id, -32602, "invalid block number")
                return _ok(request_id, _block(block) if 0 <= block <= head else None)
            call = params[0] if params and isinstance(params[0], dict) else {}
            block = self._block_number(params[1] if len(params) > 1 else None, head)
            if block is None:
                return _error(request_id, -32602, "invalid block number")
            if not 0 <= block <= head:
                return _error(request_id, -32000, "header not found")
            to = str(call.get("to") or "").lower()
            data = str(call.get("data") or call.get("input") or "").lower()
            if to != self.server.extra["pool_address"].lower() or data != TOTAL_STAKED_SELECTOR:
                return _error(request_id, 3, "execution reverted")
            return _ok(request_id, "0x" + f"{total_at(state, conn, block):064x}")
        finally:
            conn.close()
