"""The engine's reaction to account events: the orders of a user who may no longer
trade go.

A core NATS subscription to the events that stop a trading account trading
(`SUBJECTS`, derived from the state machine: `account.suspended`,
`account.restricted` and `account.banned` with today's seeds); a restricted account
may still withdraw, but an order left on its book would still trade. JetStream
publishes reach core subscribers too. The cancellation is kept in
sim.me_cancelled_orders, so it survives a restart of the simulator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import nats

from eod.devkit.simulators.state import SimState
from eod.errors import ServiceError
from fsm.machine import MACHINE, Guard

log = logging.getLogger(__name__)


def _trading_stopped_subjects() -> tuple[str, ...]:
    """The events of a trading account stopped from trading with its balances in place:
    moves out of a state that trades into one that does not, bar those whose guard
    needs the balances at zero (an account left with nothing has no orders)."""
    return tuple(
        dict.fromkeys(
            move.subject
            for move in MACHINE.transitions.values()
            if MACHINE.can_trade(move.source)
            and not MACHINE.can_trade(move.target)
            and move.guard is not Guard.ZERO_BALANCES
        )
    )


SUBJECTS = _trading_stopped_subjects()


class AccountEventListener:
    def __init__(self, state: SimState, nats_url: str):
        self._state = state
        self._url = nats_url
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-account-events", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise ServiceError(
                f"engine simulator cannot subscribe on NATS at {self._url}: "
                f"{self._error or 'timed out'}"
            )

    def stop(self) -> None:
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); the thread just ends
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        nc = await nats.connect(self._url, connect_timeout=5, max_reconnect_attempts=-1)
        try:
            for subject in SUBJECTS:
                await nc.subscribe(subject, cb=self._on_event)
            await nc.flush()
            self._ready.set()
            await self._stop.wait()
        finally:
            await nc.drain()

    async def _on_event(self, msg) -> None:
        try:
            user_id = int(json.loads(msg.data)["user_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("engine simulator: %s without a user_id ignored", msg.subject)
            return
        await asyncio.get_running_loop().run_in_executor(None, self._cancel, user_id, msg.subject)

    def _cancel(self, user_id: int, subject: str) -> None:
        conn = self._state.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    """insert into sim.me_cancelled_orders (user_id, subject) values (%s, %s)
                       on conflict (user_id) do nothing""",
                    (user_id, subject),
                )
        finally:
            conn.close()
        log.info("engine simulator: open orders of user %s cancelled on %s", user_id, subject)
