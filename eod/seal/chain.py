"""Sealing a completed close, and checking the chain of seals (CONTRACT section 6a).

The close of D seals it in its last step's transaction: digests over D's
proof-of-reserves roots, D's marts rows and the ledger entries D's close counted
(eod.seal.canonical), chained to the seal of the date before. A date already sealed
is left as it is when its figures still match; a seal is never rewritten.

`verify` recomputes every date of a range from that date's rows alone (its seal, the
seal before it, its marts rows, its counted entries, each read by date) and reports
the first date whose data or chain no longer matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from eod.close.calendar import CLOSE_MARKER
from eod.db import transaction
from eod.errors import EodError, InputError
from eod.seal.canonical import LEDGER, MARTS, POR, ZERO_HASH, digest, seal_hash


class SealConflict(EodError):
    """D is sealed already and its figures no longer match, or a later date is sealed."""


@dataclass(frozen=True)
class Digests:
    por_digest: str
    marts_digest: str
    ledger_digest: str


@dataclass(frozen=True)
class Seal:
    business_date: date
    seal_hash: str
    prev_seal_hash: str
    por_digest: str
    marts_digest: str
    ledger_digest: str
    sealed_at: datetime

    @property
    def digests(self) -> Digests:
        return Digests(self.por_digest, self.marts_digest, self.ledger_digest)

    def recomputed_hash(self) -> str:
        return seal_hash(
            self.business_date,
            self.prev_seal_hash,
            self.por_digest,
            self.marts_digest,
            self.ledger_digest,
        )


_COLUMNS = (
    "business_date, seal_hash, prev_seal_hash, por_digest, marts_digest, ledger_digest, sealed_at"
)
_NAMES = {"por_digest": "proof-of-reserves", "marts_digest": "marts", "ledger_digest": "ledger"}


def compute_digests(cur, business_date: date) -> Digests:
    return Digests(
        digest(cur, POR, business_date),
        digest(cur, MARTS, business_date),
        digest(cur, LEDGER, business_date),
    )


def get_seal(cur, business_date: date) -> Seal | None:
    cur.execute(
        f"select {_COLUMNS} from eod.close_seals where business_date = %s", (business_date,)
    )
    row = cur.fetchone()
    return Seal(*row) if row else None


def previous_seal(cur, business_date: date) -> Seal | None:
    """The seal D chains to: the latest one before D (none at the chain's first date)."""
    cur.execute(
        f"""select {_COLUMNS} from eod.close_seals where business_date < %s
            order by business_date desc limit 1""",
        (business_date,),
    )
    row = cur.fetchone()
    return Seal(*row) if row else None


def _differences(expected: Digests, found: Digests) -> list[str]:
    return [
        f"{label} digest differs (sealed {getattr(expected, name)[:16]}.., "
        f"now {getattr(found, name)[:16]}..)"
        for name, label in _NAMES.items()
        if getattr(expected, name) != getattr(found, name)
    ]


def seal_close(cur, business_date: date) -> Seal:
    """Seal D in the caller's transaction (the close's last step); returns the seal."""
    digests = compute_digests(cur, business_date)
    prev = previous_seal(cur, business_date)
    prev_hash = prev.seal_hash if prev else ZERO_HASH
    existing = get_seal(cur, business_date)
    if existing is not None:
        problems = _differences(existing.digests, digests)
        if existing.prev_seal_hash != prev_hash:
            problems.append("its link to the seal before it differs")
        if problems:
            raise SealConflict(
                f"{business_date} is sealed and no longer matches its seal: "
                f"{'; '.join(problems)} (see `eod seal verify`)"
            )
        return existing
    cur.execute(
        "select max(business_date) from eod.close_seals where business_date > %s",
        (business_date,),
    )
    later = cur.fetchone()[0]
    if later is not None:
        raise SealConflict(f"cannot seal {business_date}: the later date {later} is sealed")
    hashed = seal_hash(
        business_date, prev_hash, digests.por_digest, digests.marts_digest, digests.ledger_digest
    )
    cur.execute(
        f"""insert into eod.close_seals
                (business_date, seal_hash, prev_seal_hash, por_digest, marts_digest,
                 ledger_digest, sealed_at)
            values (%s, %s, %s, %s, %s, %s, now())
            returning {_COLUMNS}""",
        (
            business_date,
            hashed,
            prev_hash,
            digests.por_digest,
            digests.marts_digest,
            digests.ledger_digest,
        ),
    )
    return Seal(*cur.fetchone())


@dataclass
class VerifyReport:
    checked: list[date] = field(default_factory=list)
    first_bad: date | None = None
    problems: list[str] = field(default_factory=list)
    head: Seal | None = None  # the last seal verified

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def summary(self) -> str:
        """What `eod seal verify` prints: the first date that does not match, or the
        dates verified and the chain's head."""
        if not self.ok:
            good = len(self.checked) - 1
            return (
                f"seal of {self.first_bad} does not match: {'; '.join(self.problems)}"
                f" ({good} date{'s' if good != 1 else ''} before it verified)"
            )
        if not self.checked:
            return "no sealed close in range"
        return (
            f"{len(self.checked)} sealed dates verified, {self.checked[0]} .. "
            f"{self.checked[-1]}; chain head {self.head.seal_hash}"
        )


def check_date(cur, business_date: date, closed: bool) -> tuple[Seal | None, list[str]]:
    """One date's seal against its rows and the seal before it: (seal, problems)."""
    seal = get_seal(cur, business_date)
    if seal is None:
        return None, (["its close completed but it has no seal"] if closed else [])
    problems = []
    if seal.recomputed_hash() != seal.seal_hash:
        problems.append("the seal row was changed: seal_hash does not match its fields")
    prev = previous_seal(cur, business_date)
    if seal.prev_seal_hash != (prev.seal_hash if prev else ZERO_HASH):
        before = f"the seal of {prev.business_date}" if prev else "the chain's start"
        problems.append(f"prev_seal_hash does not link to {before}")
    problems += _differences(seal.digests, compute_digests(cur, business_date))
    return seal, problems


def _bounds(cur) -> tuple[date | None, date | None]:
    cur.execute(
        """select min(d), max(d) from (
               select business_date as d from eod.close_seals
               union all
               select business_date from eod.eod_runs
               where step_name = %s and status = 'succeeded') as dates""",
        (CLOSE_MARKER,),
    )
    return cur.fetchone()


def _days(start: date, end: date) -> Iterator[date]:
    for n in range((end - start).days + 1):
        yield start + timedelta(days=n)


def verify(database_url: str, start: date | None = None, end: date | None = None) -> VerifyReport:
    """Check every sealed or closed date from start to end (default: all of them), each
    in a read-only transaction of its own; stops at the first that does not match."""
    if start and end and end < start:
        raise InputError(f"--end {end} is before --start {start}")
    with transaction(database_url) as conn, conn.cursor() as cur:
        first, last = _bounds(cur)
    report = VerifyReport()
    if first is None:
        return report
    start, end = max(start or first, first), min(end or last, last)
    for day in _days(start, end) if start <= end else ():
        with transaction(database_url) as conn, conn.cursor() as cur:
            cur.execute("set transaction isolation level repeatable read, read only")
            cur.execute(
                "select exists (select from eod.eod_runs where business_date = %s"
                " and step_name = %s and status = 'succeeded')",
                (day, CLOSE_MARKER),
            )
            seal, problems = check_date(cur, day, cur.fetchone()[0])
        if seal is None and not problems:
            continue
        report.checked.append(day)
        if problems:
            report.first_bad, report.problems = day, problems
            return report
        report.head = seal
    return report
