"""Named points of a close where a fault strikes, and the hooks that reach them.

The hooks wrap the close's own functions for the length of a `hooks()` block (the
product has no hook of its own): when the close reaches the armed point, the block's
action runs there, once, in the close's thread — a SIGKILL of the process, a Postgres
crash, a pause while another leader takes over. Points:

- `after:<step>`: the stage holding <step> finished and was recorded, the next has
  not started (a step boundary);
- `<step>:written`: the step's work is done but its `succeeded` record is not
  committed (for the postings, freezes and records: their writes are in the same
  open transaction; for captures, dbt and the proof of reserves: committed);
- `<dbt step>:node<N>`: dbt finished N nodes of the step's build, others to come;
- `capture_registry:streaming`: the registry's COPY is under way;
- `capture_custody:validating`: the custody replies are staged, not yet landed;
- `proof_of_reserves:trees`: the trees are built, the roots not yet published;
- `relay:start`: the close is done and recorded, its events not yet relayed;
- `relay:publish<N>`: the relay is about to publish its N-th event (those before it
  acknowledged).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from eod.errors import EodError

DBT_NODES_BEFORE_STRIKE = 12  # about the middle of the smaller build
HOLD_LIMIT_S = 120.0


class StruckBeside(RuntimeError):
    """A step that ran beside the one a fault struck."""


class StoppedAfterStrike(EodError):
    """The close stopped at the end of the stage a fault struck (so that a series of
    faults finds its next point still ahead)."""


class Hooks:
    """Which point is armed and what happens there."""

    def __init__(self, action: Callable[[str], None]) -> None:
        self.action = action
        self.armed: str | None = None
        self.struck: list[str] = []
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.done = threading.Event()  # the armed point struck, or its step ended
        self.stage_of: dict[str, int] = {}
        self.stop_after_strike = False

    def arm(self, point: str | None) -> None:
        with self._lock:
            self.armed = point
            self._counts.clear()
            self.done.clear()

    def reach(self, point: str) -> None:
        with self._lock:
            if point != self.armed:
                return
            self.armed = None
            self.struck.append(point)
        try:
            self.action(point)
        finally:
            self.done.set()

    def armed_step(self) -> str | None:
        point = self.armed
        if point is None or point.startswith(("after:", "relay:")):
            return None
        return point.split(":")[0]

    def hold(self, step: str) -> None:
        """A step that runs beside the armed one waits until the armed point has
        struck, and then fails as if struck too: otherwise it could finish first,
        and a later point of a series find its step already done (the steps of a
        stage race)."""
        point = self.armed
        armed = self.armed_step()
        if armed and armed != step and self.stage_of.get(armed) == self.stage_of.get(step):
            self.done.wait(HOLD_LIMIT_S)
            if point in self.struck:
                raise StruckBeside(f"{step} was running beside {point} when the fault struck")

    def count(self, prefix: str) -> int:
        with self._lock:
            self._counts[prefix] = self._counts.get(prefix, 0) + 1
            return self._counts[prefix]


def _patch(stack: contextlib.ExitStack, owner, name: str, wrapper_of) -> None:
    original = getattr(owner, name)
    setattr(owner, name, wrapper_of(original))
    stack.callback(setattr, owner, name, original)


@contextlib.contextmanager
def hooks(action: Callable[[str], None]) -> Iterator[Hooks]:
    """Install the hooks in this process; `action(point)` runs at the armed point."""
    import nats.js.client

    import eod.capture.custody
    import eod.capture.ndjson
    import eod.close.dbt_build
    import eod.close.steps
    import eod.por.build
    import flows.eod_close
    import flows.tasks

    state = Hooks(action)
    state.stage_of = {
        name: i for i, stage in enumerate(flows.eod_close.STAGES) for name, _ in stage
    }
    with contextlib.ExitStack() as stack:

        def run_stage(original):
            def wrapped(ctx, ledger, stage):
                outcomes = original(ctx, ledger, stage)
                if not any(isinstance(o, Exception) for _, o in outcomes):
                    for name, _ in stage:
                        state.reach(f"after:{name}")
                if state.stop_after_strike and state.struck:
                    raise StoppedAfterStrike(f"stopped after the stage {state.struck[-1]} hit")
                return outcomes

            return wrapped

        def step_run(original):
            def wrapped(self, step, work, *, atomic=True, announce=None):
                def struck_work(*args):
                    detail = work(*args)
                    state.reach(f"{step}:written")
                    return detail

                state.hold(step)
                try:
                    return original(self, step, struck_work, atomic=atomic, announce=announce)
                finally:
                    if state.armed_step() == step:  # ended without reaching its point
                        state.done.set()

            return wrapped

        def node_logger(original):
            def wrapped(logger):
                inner = original(logger)
                step = _build_step[0]

                def on_event(event):
                    inner(event)
                    if event.info.name == "NodeFinished":
                        n = state.count(step)
                        state.reach(f"{step}:node{n}")

                return on_event

            return wrapped

        def run_build(original):
            def wrapped(database_url, business_date, part=(), *args, **kwargs):
                # one dbt build at a time in a close; its nodes finish in dbt's threads
                trading = part == eod.close.dbt_build.BEFORE_CAPTURES
                _build_step[0] = "dbt_build_trading" if trading else "dbt_build"
                return original(database_url, business_date, part, *args, **kwargs)

            return wrapped

        def copy_read(original):
            def wrapped(self, size=65536):
                state.reach("capture_registry:streaming")
                return original(self, size)

            return wrapped

        def validate_custody(original):
            def wrapped(*args, **kwargs):
                state.reach("capture_custody:validating")
                return original(*args, **kwargs)

            return wrapped

        def build_roots(original):
            def wrapped(*args, **kwargs):
                roots = original(*args, **kwargs)
                state.reach("proof_of_reserves:trees")
                return roots

            return wrapped

        def publish(original):
            async def wrapped(self, *args, **kwargs):
                state.reach(f"relay:publish{state.count('relay')}")
                return await original(self, *args, **kwargs)

            return wrapped

        def relay_outbox(original):
            def wrapped(ctx):
                state.reach("relay:start")
                return original(ctx)

            return wrapped

        _patch(stack, flows.eod_close, "_run_stage", run_stage)
        _patch(stack, eod.close.steps.StepLedger, "run", step_run)
        _patch(stack, eod.close.dbt_build, "_node_logger", node_logger)
        _patch(stack, flows.tasks, "run_build", run_build)
        _patch(stack, eod.capture.ndjson.CopySource, "read", copy_read)
        _patch(stack, eod.capture.custody, "validate_custody", validate_custody)
        _patch(stack, eod.por.build, "_build_roots", build_roots)
        _patch(stack, nats.js.client.JetStreamContext, "publish", publish)
        _patch(stack, flows.tasks, "relay_outbox", relay_outbox)
        yield state


_build_step = ["dbt_build"]
