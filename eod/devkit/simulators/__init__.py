"""Simulators of the close's external systems, on loopback (CONTRACT section 5).

- matching engine: `GET /v1/registry/snapshot?as_of=...`, NDJSON streamed in chunks;
- custody: BitGo-shaped `GET /api/v2/{coin}/wallet/{wallet_id}` with a bearer token;
- chain: Ethereum JSON-RPC answering `eth_call` of StakingPool.totalStaked().

They serve what `eod generate` stored in the dev kit's `sim` schema, which they
create when it is missing (eod.devkit.schema). For the demo and the tests only: a
real close never falls back to them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from eod.devkit.schema import ensure_schema_at
from eod.devkit.simulators.custody import FAILING_WALLET_ID, CustodyHandler
from eod.devkit.simulators.engine import EngineHandler
from eod.devkit.simulators.events import AccountEventListener
from eod.devkit.simulators.faults import REPLY_FAULTS, checked
from eod.devkit.simulators.http import SimServer
from eod.devkit.simulators.rpc import RpcHandler
from eod.devkit.simulators.state import ME_FAULTS, SimState
from eod.errors import InputError

DEFAULT_POOL_ADDRESS = "0x5a7e00000000000000000000000000000000c0de"


@dataclass
class SimulatorHandle:
    """The running simulators; `stop()` shuts them down."""

    me_url: str
    custody_url: str
    rpc_url: str
    custody_token: str = field(repr=False)
    pool_address: str
    state: SimState = field(repr=False)
    _servers: list[SimServer] = field(default_factory=list, repr=False)
    _listener: AccountEventListener | None = field(default=None, repr=False)

    def environment(self) -> dict[str, str]:
        """The close's EOD_* variables pointing at these simulators."""
        return {
            "EOD_ME_URL": self.me_url,
            "EOD_CUSTODY_URL": self.custody_url,
            "EOD_CUSTODY_TOKEN": self.custody_token,
            "EOD_STAKING_RPC_URL": self.rpc_url,
            "EOD_STAKING_POOL_ADDRESS": self.pool_address,
        }

    @property
    def me_fault(self) -> str | None:
        return self.state.me_fault

    @me_fault.setter
    def me_fault(self, fault: str | None) -> None:
        self.state.me_fault = _checked_fault(fault)

    @property
    def custody_fault(self) -> str | None:
        return self.state.custody_fault

    @custody_fault.setter
    def custody_fault(self, fault: str | None) -> None:
        self.state.custody_fault = checked(fault, REPLY_FAULTS, "custody")

    @property
    def rpc_fault(self) -> str | None:
        return self.state.rpc_fault

    @rpc_fault.setter
    def rpc_fault(self, fault: str | None) -> None:
        self.state.rpc_fault = checked(fault, REPLY_FAULTS, "JSON-RPC")

    @property
    def custody_fail(self) -> bool:
        return self.state.custody_fail

    @custody_fail.setter
    def custody_fail(self, fail: bool) -> None:
        self.state.custody_fail = bool(fail)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _checked_fault(fault: str | None) -> str | None:
    return checked(fault, ME_FAULTS, "engine")


def start_simulators(
    database_url: str,
    nats_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    custody_token: str | None = None,
    pool_address: str = DEFAULT_POOL_ADDRESS,
    me_fault: str | None = None,
    custody_fail: bool = False,
) -> SimulatorHandle:
    """Start the three simulators (ports port, port+1, port+2, or any free ones if 0)."""
    ensure_schema_at(database_url)  # a database not generated into yet answers "not generated"
    state = SimState(database_url, me_fault=_checked_fault(me_fault), custody_fail=custody_fail)
    token = custody_token or secrets.token_urlsafe(24)
    servers: list[SimServer] = []
    listener = None
    try:
        for offset, handler, extra in (
            (0, EngineHandler, {}),
            (1, CustodyHandler, {"token": token}),
            (2, RpcHandler, {"pool_address": pool_address}),
        ):
            try:
                server = SimServer((host, port + offset if port else 0), handler, state, **extra)
            except OSError as exc:
                raise InputError(
                    f"cannot listen on {host}:{port + offset if port else 0}: {exc.strerror}"
                ) from None
            servers.append(server)
        if nats_url:
            listener = AccountEventListener(state, nats_url)
            listener.start()
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    for server in servers:
        server.start()
    return SimulatorHandle(
        me_url=servers[0].url,
        custody_url=servers[1].url,
        rpc_url=servers[2].url,
        custody_token=token,
        pool_address=pool_address,
        state=state,
        _servers=servers,
        _listener=listener,
    )


__all__ = ["DEFAULT_POOL_ADDRESS", "FAILING_WALLET_ID", "SimulatorHandle", "start_simulators"]
