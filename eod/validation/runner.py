"""Running a suite of SQL checks through Great Expectations and keeping the result."""

from __future__ import annotations

import json
import logging
import threading
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from psycopg2.extras import Json

from eod.close.leader import check_fence
from eod.db import transaction
from eod.errors import InputError, first_line

log = logging.getLogger(__name__)

SAMPLE = 5  # offending rows named in an error


@dataclass(frozen=True)
class Check:
    """A named rule; `query` selects the rows that break it from `{batch}`.

    `rule`, when the batch holds rows found breaking it elsewhere, is the rule's own
    condition, kept with the expectation so a stored result still says what was checked.
    """

    name: str
    query: str
    description: str
    rule: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    success: bool
    count: int
    first: list[dict[str, Any]]


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    business_date: date
    success: bool
    checks: list[CheckOutcome]
    statistics: dict[str, Any]
    result: dict[str, Any]
    path: Path | None

    def failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.success]

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "success": self.success,
            "checks": {c.name: c.count for c in self.checks},
        }


class ValidationFailed(InputError):
    """A captured input broke a validation rule; nothing was written."""

    def __init__(self, result: SuiteResult) -> None:
        self.result = result
        parts = []
        for check in result.failures():
            rows = "; ".join(
                " ".join(f"{k}={v}" for k, v in row.items()) for row in check.first[:SAMPLE]
            )
            parts.append(f"{check.name}: {check.count} rows (first: {rows})")
        super().__init__(
            f"{result.suite} validation failed for {result.business_date}: " + " | ".join(parts)
        )


def sqlalchemy_url(database_url: str) -> str:
    """The libpq URL in SQLAlchemy's spelling (psycopg2 driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg2://" + database_url[len(prefix) :]
    return database_url


def _import_great_expectations() -> None:
    import great_expectations  # noqa: F401
    import great_expectations.expectations  # noqa: F401


def preload() -> threading.Thread:
    """Import Great Expectations in the background; returns the importing thread.

    Its import takes seconds of a close; a capture starts it before streaming, which
    mostly waits on the network and Postgres, so that validation finds it loaded.
    Python's import lock makes a later import wait for this one rather than repeat it.
    """
    thread = threading.Thread(
        target=_import_great_expectations, name="preload-great-expectations", daemon=True
    )
    thread.start()
    return thread


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # that module pins its own logger to INFO and announces every ephemeral context
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # Progress bars would write to the close's log for every expectation.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _outcome(check: Check, result: dict[str, Any]) -> CheckOutcome:
    detail = result.get("result") or {}
    exception = result.get("exception_info") or {}
    if exception.get("raised_exception"):
        message = first_line(exception.get("exception_message"), "query failed")
        return CheckOutcome(check.name, False, -1, [{"error": message}])
    rows = (detail.get("details") or {}).get("unexpected_rows") or []
    return CheckOutcome(
        check.name,
        bool(result.get("success")),
        int(detail.get("observed_value") or 0),
        [dict(r) for r in rows[:SAMPLE]],
    )


def _keep(
    database_url: str,
    state_dir: Path | None,
    result: SuiteResult,
    fencing_token: int | None = None,
) -> Path | None:
    """Store the result in eod.validation_results and, with a state dir, as a JSON file.
    With a close's fencing token, the record is refused once that close lost its lock."""
    path = None
    if state_dir is not None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = Path(state_dir) / "validations" / result.business_date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result.suite}-{stamp}-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(result.result, indent=2, default=str))
    with transaction(database_url) as conn, conn.cursor() as cur:
        if fencing_token is not None:
            check_fence(cur, fencing_token)
        cur.execute(
            """insert into eod.validation_results
                   (business_date, suite, success, statistics, result)
               values (%s, %s, %s, %s, %s)""",
            (
                result.business_date,
                result.suite,
                result.success,
                Json(result.statistics),
                Json(json.loads(json.dumps(result.result, default=str))),
            ),
        )
    return path


def run_suite(
    database_url: str,
    business_date: date,
    suite_name: str,
    batch_query: str,
    checks: list[Check],
    state_dir: Path | None = None,
    raise_on_failure: bool = True,
    fencing_token: int | None = None,
) -> SuiteResult:
    """Validate the rows of `batch_query` against `checks`; keep and return the result.

    The batch must be visible to other connections (committed): Great Expectations
    queries through its own SQLAlchemy engine.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = _context()
    with warnings.catch_warnings():
        # A generic SQL source on purpose: it takes any libpq URL (sockets, query
        # parameters), where the Postgres-specific one needs a TCP host.
        warnings.simplefilter("ignore")
        source = context.data_sources.add_sql(
            name="eod", connection_string=sqlalchemy_url(database_url)
        )
    asset = source.add_query_asset(name=suite_name, query=batch_query)
    batch = asset.add_batch_definition_whole_table("capture")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for check in checks:
        suite.add_expectation(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=check.query,
                description=f"{check.name}: {check.description}",
                meta={"rule": check.rule} if check.rule else None,
            )
        )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}-{business_date}", data=batch, suite=suite)
    )
    try:
        run = definition.run(
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": SAMPLE}
        )
    finally:
        # The engine's pool would keep connections to the database open otherwise.
        engine = getattr(source, "get_engine", None)
        if engine is not None:
            engine().dispose()
    document = run.to_json_dict()
    by_name = {
        (item.get("expectation_config") or {}).get("description", "").split(":")[0]: item
        for item in document["results"]
    }
    outcomes = [_outcome(check, by_name[check.name]) for check in checks]
    result = SuiteResult(
        suite=suite_name,
        business_date=business_date,
        success=all(o.success for o in outcomes),
        checks=outcomes,
        statistics=dict(document.get("statistics") or {}),
        result=document,
        path=None,
    )
    path = _keep(database_url, state_dir, result, fencing_token)
    result = SuiteResult(**{**result.__dict__, "path": path})
    log.info("%s validation for %s: %s", suite_name, business_date, result.summary())
    if raise_on_failure and not result.success:
        raise ValidationFailed(result)
    return result
