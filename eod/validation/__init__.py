"""Validation of captured inputs with Great Expectations (CONTRACT section 11).

Each suite is a list of checks, each an SQL query returning the offending rows, run
by Great Expectations' UnexpectedRowsExpectation inside Postgres, so that a registry
of millions of rows is never pulled into Python. Every run is kept (a JSON file under
the state dir and a row in `eod.validation_results`), and a failed run raises one
InputError line naming the check, its count and its first offending rows.
"""

from eod.validation.runner import Check, SuiteResult, ValidationFailed, preload, run_suite
from eod.validation.suites import (
    CUSTODY_SUITE,
    REGISTRY_SUITE,
    custody_checks,
    registry_checks,
    validate_custody,
    validate_registry,
)

__all__ = [
    "CUSTODY_SUITE",
    "REGISTRY_SUITE",
    "Check",
    "SuiteResult",
    "ValidationFailed",
    "custody_checks",
    "preload",
    "registry_checks",
    "run_suite",
    "validate_custody",
    "validate_registry",
]
