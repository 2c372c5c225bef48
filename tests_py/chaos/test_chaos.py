"""The chaos tier: faults injected into real closes of a small generated exchange,
each compared with a clean reference close (eod.devkit.chaos; `eod bench chaos`
prints the same experiments as a table).

One private Postgres and one private nats-server for the module; the exchange is
generated and closed up to its last date once, and the reference close of that date
computed once. Each scenario then closes the last date on a fresh copy with its
faults, re-runs the close, and must equal the reference: the ledger (ids aside),
every mart, the proof-of-reserves roots, the freezes, the break and step records,
the events delivered (by Nats-Msg-Id and by meaning) and the pages.
"""

from __future__ import annotations

import pytest

from eod.devkit.chaos import scenarios
from eod.devkit.chaos.harness import Harness
from tests_py.chaos.conftest import DONE

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def chaos():
    harness = Harness()
    try:
        harness.setup()
        yield harness
    finally:
        harness.teardown()


def test_the_comparison_sees_a_date_not_closed(chaos):
    """The template (the last date not closed) differs from the reference in every
    aspect the close writes: the comparison is not vacuous."""
    chaos.fresh_copy()
    differs = chaos.differences()
    assert {"ledger", "marts", "por", "freezes", "records", "events", "pages"} <= set(differs)


def _case(scenario):
    return pytest.param(scenario, id=scenario.name.split(" (")[0].replace(" ", "-"))


@pytest.mark.parametrize("scenario", [_case(s) for s in scenarios.SCENARIOS])
def test_faults_leave_the_close_equal_to_the_reference(chaos, scenario):
    result = scenarios.run(chaos, scenario)
    DONE.append((scenario, result))
    assert all(result.injected.values()) and result.consistent, result.explain()
