"""Ethereum JSON-RPC simulator: `eth_call` of StakingPool.totalStaked() and a few basics."""

from __future__ import annotations

import json

from eod.devkit.simulators.http import Handler
from eod.devkit.simulators.state import NotGenerated

TOTAL_STAKED_SELECTOR = "0x817b1cd2"  # keccak256("totalStaked()")[:4]
CHAIN_ID = 1337
SECONDS_PER_BLOCK = 12


def _error(request_id, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


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
            self.send_json(200, [self._answer(item) for item in body])
        else:
            self.send_json(200, self._answer(body))

    def _answer(self, request) -> dict:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _error(None, -32600, "invalid request")
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params") or []
        state = self.server.state
        if method not in ("eth_chainId", "eth_blockNumber", "eth_call"):
            return _error(
                request_id, -32601, f"the method {method} does not exist/is not available"
            )
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": request_id, "result": hex(CHAIN_ID)}
        conn = state.connect()
        try:
            try:
                business_date, instant = state.reference_instant(conn)
            except NotGenerated as exc:
                return _error(request_id, -32000, str(exc))
            if method == "eth_blockNumber":
                block = int(instant.timestamp()) // SECONDS_PER_BLOCK
                return {"jsonrpc": "2.0", "id": request_id, "result": hex(block)}
            call = params[0] if params and isinstance(params[0], dict) else {}
            to = str(call.get("to") or "").lower()
            data = str(call.get("data") or call.get("input") or "").lower()
            if to != self.server.extra["pool_address"].lower() or data != TOTAL_STAKED_SELECTOR:
                return _error(request_id, 3, "execution reverted")
            with conn.cursor() as cur:
                cur.execute(
                    "select total_units::text from sim.onchain_staked where business_date = %s",
                    (business_date,),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None:
            return _error(request_id, -32000, f"no chain state for {business_date}")
        return {"jsonrpc": "2.0", "id": request_id, "result": "0x" + f"{int(row[0]):064x}"}
